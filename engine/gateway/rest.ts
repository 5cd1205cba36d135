/**
 * HTTP on the gateway's port: liveness, readiness, Prometheus metrics, REST snapshots (the
 * same JSON as the stream's `data`) and the dashboard's static files.
 *
 *   GET /healthz                 200 while the event loop runs (no dependency is consulted)
 *   GET /readyz                  200 / 503 with every component's state (engine/health.ts)
 *   GET /metrics                 Prometheus text (prom-client)
 *   GET /v1/instruments          [InstrumentInfo]                         (token when configured)
 *   GET /v1/risk/BTC-USD         MarketRisk (also /v1/risk/BTC/USD)       (token when configured)
 *   GET /v1/portfolio/<ACCOUNT>  AccountRisk                              (token when configured)
 *   GET /, /app.js …             engine/gateway/dashboard/
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { HealthRegistry } from '../health.js';
import type { Logger } from '../logger.js';
import { gatewayMetrics as m, registry } from '../metrics.js';
import { ACCOUNT_RE } from '../switchboard.js';
import { presentedToken, type GatewayAuth } from './auth.js';
import type { Hub } from './hub.js';
import { RefusalReason, SYMBOL_RE } from './protocol.js';
import type { GatewaySource } from './source.js';

export interface HttpContext {
  readonly hub: Hub;
  readonly source: GatewaySource;
  readonly health: HealthRegistry;
  readonly auth: GatewayAuth;
  readonly log: Logger;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * The dashboard directory: next to this module when running from source (tsx, tap), or the
 * source tree's copy when running from `dist/` (`npm run build` compiles only TypeScript).
 */
export function dashboardDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [resolve(here, 'dashboard'), resolve(here, '../../../engine/gateway/dashboard')]) {
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
  }
  return null;
}

/** Write a complete response; headers every response carries are added here. */
export function respond(res: HttpResponse, status: number, contentType: string, body: string | Buffer, route: string, extra: Record<string, string> = {}): void {
  m.httpRequests.inc({ route, status: String(status) });
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[status] ?? `${status}`);
    res.writeHeader('content-type', contentType);
    res.writeHeader('x-content-type-options', 'nosniff');
    res.writeHeader('referrer-policy', 'no-referrer');
    for (const [k, v] of Object.entries(extra)) res.writeHeader(k, v);
    res.end(body);
  });
}

export function respondJson(res: HttpResponse, status: number, body: unknown, route: string, extra: Record<string, string> = {}): void {
  respond(res, status, 'application/json', JSON.stringify(body), route, { 'cache-control': 'no-store', ...extra });
}

export function errorBody(code: string, reason: string): { error: { code: string; reason: string } } {
  return { error: { code, reason } };
}

export function registerHttp(app: TemplatedApp, ctx: HttpContext): void {
  const { hub, source, health, auth } = ctx;

  /** REST shares the stream's authentication; false when refused (and answered). */
  const authorized = (res: HttpResponse, req: HttpRequest, route: string): boolean => {
    if (auth.tokens === null) return true;
    const token = presentedToken(req.getHeader('authorization'), req.getQuery('access_token') ?? '');
    if (auth.tokens.match(token) !== null) return true;
    m.refusals.inc({ reason: RefusalReason.UNAUTHORIZED });
    respondJson(res, 401, errorBody('UNAUTHORIZED', token === null ? 'a bearer token is required (Authorization: Bearer <token> or ?access_token=)' : 'token not accepted'), route, { 'www-authenticate': 'Bearer' });
    return false;
  };

  app.get('/healthz', (res) => respondJson(res, 200, { status: 'ok' }, 'healthz'));

  app.get('/readyz', (res) => {
    const r = health.report();
    m.ready.set(r.ready ? 1 : 0);
    for (const [name, c] of Object.entries(r.components)) m.componentOk.set({ component: name }, c.ok ? 1 : 0);
    respondJson(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', failing: r.failing, degraded: r.degraded, components: r.components }, 'readyz');
  });

  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const r = health.report();
    m.ready.set(r.ready ? 1 : 0);
    for (const [name, c] of Object.entries(r.components)) m.componentOk.set({ component: name }, c.ok ? 1 : 0);
    registry
      .metrics()
      .then((text) => {
        if (!aborted) respond(res, 200, registry.contentType, text, 'metrics', { 'cache-control': 'no-store' });
      })
      .catch((err: Error) => {
        if (!aborted) respondJson(res, 500, errorBody('METRICS', err.message), 'metrics');
      });
  });

  app.get('/v1/instruments', (res, req) => {
    if (!authorized(res, req, 'instruments')) return;
    respondJson(res, 200, hub.instruments(), 'instruments');
  });

  app.get('/v1/risk/*', (res, req) => {
    if (!authorized(res, req, 'risk')) return;
    let rest: string;
    try {
      rest = decodeURIComponent(req.getUrl().slice('/v1/risk/'.length));
    } catch {
      return respondJson(res, 400, errorBody('BAD_REQUEST', 'malformed URL encoding'), 'risk');
    }
    const symbol = rest.includes('/') ? rest : rest.replace('-', '/');
    if (!SYMBOL_RE.test(symbol) || !source.isSymbol(symbol)) {
      return respondJson(res, 404, errorBody('UNKNOWN_SYMBOL', `${JSON.stringify(rest.slice(0, 40))} is not an instrument of this engine (GET /v1/instruments lists them; write BTC-USD or BTC/USD)`), 'risk');
    }
    const r = source.latestRisk(symbol);
    if (r === null) return respondJson(res, 503, errorBody('NO_DATA_YET', `no risk record for ${symbol} yet (its book is not synced yet)`), 'risk');
    respondJson(res, 200, r, 'risk');
  });

  app.get('/v1/portfolio/*', (res, req) => {
    if (!authorized(res, req, 'portfolio')) return;
    let account: string;
    try {
      account = decodeURIComponent(req.getUrl().slice('/v1/portfolio/'.length));
    } catch {
      return respondJson(res, 400, errorBody('BAD_REQUEST', 'malformed URL encoding'), 'portfolio');
    }
    if (!ACCOUNT_RE.test(account)) return respondJson(res, 404, errorBody('UNKNOWN_ACCOUNT', 'an account is 1–64 of A-Z a-z 0-9 _ -'), 'portfolio');
    const p = source.portfolio(account) ?? hub.portfolios.get(account) ?? null;
    if (p === null) return respondJson(res, 404, errorBody('UNKNOWN_ACCOUNT', `no account ${account} (accounts appear with their first fill)`), 'portfolio');
    respondJson(res, 200, p, 'portfolio');
  });

  const dir = dashboardDir();
  app.get('/*', (res, req) => {
    const url = req.getUrl();
    if (dir === null) return respondJson(res, 404, errorBody('NOT_FOUND', 'no such resource (the dashboard files are not installed)'), 'static');
    serveStatic(res, dir, url);
  });

  app.any('/*', (res, req) => {
    respondJson(res, 405, errorBody('METHOD_NOT_ALLOWED', `${req.getMethod().toUpperCase()} is not supported: the gateway serves GET only`), 'other', { allow: 'GET' });
  });
}

/** A file directly under `dir` (or below it); never outside it. */
function serveStatic(res: HttpResponse, dir: string, url: string): void {
  let path: string;
  try {
    path = decodeURIComponent(url === '/' ? '/index.html' : url);
  } catch {
    return respondJson(res, 400, errorBody('BAD_REQUEST', 'malformed URL encoding'), 'static');
  }
  const file = resolve(dir, `.${path}`);
  const type = CONTENT_TYPES[extname(file).toLowerCase()];
  if (path.includes('\0') || !file.startsWith(dir + sep) || type === undefined) {
    return respondJson(res, 404, errorBody('NOT_FOUND', 'no such resource'), 'static');
  }
  let aborted = false;
  res.onAborted(() => (aborted = true));
  readFile(file)
    .then((body) => {
      if (!aborted) respond(res, 200, type, body, 'static', { 'cache-control': 'no-cache', 'x-frame-options': 'DENY' });
    })
    .catch(() => {
      if (!aborted) respondJson(res, 404, errorBody('NOT_FOUND', 'no such resource'), 'static');
    });
}
