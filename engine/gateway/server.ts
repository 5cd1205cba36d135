/**
 * The gateway server: uWebSockets.js (native build only) serving `/v1/stream` and the HTTP
 * routes of rest.ts on one port. Refusals before the upgrade are HTTP statuses, checked in
 * this order: origin (403), token (401), server full (503), connections per IP (429); no
 * socket is opened for a refused request.
 *
 * uWS keeps the process alive while any socket is open: `stop()` closes every WebSocket
 * (1001), the listen socket and the app.
 */
import uWS from 'uWebSockets.js';
import type { HttpResponse, us_listen_socket, WebSocket } from 'uWebSockets.js';
import type { Config } from '../config.js';
import { AetherError, ConfigError, ErrorCode } from '../errors.js';
import type { HealthRegistry } from '../health.js';
import type { Logger } from '../logger.js';
import { gatewayMetrics as m } from '../metrics.js';
import { originAllowed, presentedToken, type GatewayAuth } from './auth.js';
import { Hub, type Client, type Conn, type HubLimits } from './hub.js';
import { CloseCode, Encoding, HttpRefusal, RefusalReason } from './protocol.js';
import { errorBody, registerHttp, respondJson } from './rest.js';
import type { GatewaySource } from './source.js';

export const STREAM_PATH = '/v1/stream';
/** How often the token file is checked for changes (revoked tokens close their sockets). */
const TOKEN_RELOAD_MS = 5000;
/** uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT. */
const LISTEN_EXCLUSIVE_PORT = 1;

export interface GatewayOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly source: GatewaySource;
  readonly health: HealthRegistry;
  readonly auth: GatewayAuth;
}

export interface Gateway {
  /** The bound port (PORT=0 picks a free one). */
  readonly port: number;
  readonly hub: Hub;
  stop(): Promise<void>;
}

interface UserData {
  readonly ip: string;
  readonly encoding: Encoding;
  readonly digest: string | null;
  client: Client | null;
}

/** True when the real uWebSockets.js binary loaded (the package silently falls back to `ws`). */
export function uwsNative(): boolean {
  return typeof (uWS as unknown as { getParts?: unknown }).getParts === 'function';
}

export function hubLimits(config: Config): HubLimits {
  return {
    conflateBytes: config.gatewayConflateBytes,
    closeBytes: config.gatewayCloseBytes,
    conflateIntervalMs: config.gatewayConflateIntervalMs,
    controlRate: config.gatewayControlRate,
    controlBurst: config.gatewayControlBurst,
    idleTimeoutMs: config.gatewayIdleTimeoutSec * 1000,
    maxMessageBytes: config.gatewayMaxMessageBytes,
    maxChannels: 256,
    bookLevels: config.gatewayBookLevels,
    bookIntervalMs: config.gatewayBookIntervalMs,
  };
}

/**
 * Start the gateway. Throws E_UWS_NATIVE when only the JS fallback of uWebSockets.js loaded,
 * and E_GATEWAY_LISTEN when the port cannot be bound.
 */
export function startGateway(opts: GatewayOptions): Gateway {
  const { config, log, source, health, auth } = opts;
  if (!uwsNative()) {
    throw new AetherError(ErrorCode.E_UWS_NATIVE, 'the uWebSockets.js native binary did not load (only its slow JS fallback is available); the gateway refuses to run on it');
  }
  const limits = hubLimits(config);
  const hub = new Hub({ source, limits, env: config.env, log });
  const perIp = new Map<string, number>();
  const app = uWS.App();

  const refuse = (res: HttpResponse, status: number, reason: RefusalReason, code: string, text: string, extra: Record<string, string> = {}) => {
    m.refusals.inc({ reason });
    respondJson(res, status, errorBody(code, text), 'stream', { connection: 'close', ...extra });
  };

  app.ws<UserData>(STREAM_PATH, {
    compression: uWS.DISABLED,
    // The hub enforces AETHER_GATEWAY_MAX_MESSAGE_BYTES with a 1009 close; uWS's own limit is
    // only a backstop against huge frames (it drops the socket without a close frame).
    maxPayloadLength: Math.max(16 * 1024, 4 * config.gatewayMaxMessageBytes),
    // The hub's idle check closes with 4010; uWS's timeout is the backstop for dead peers.
    idleTimeout: Math.min(960, 4 * Math.ceil((config.gatewayIdleTimeoutSec + 8) / 4)),
    sendPingsAutomatically: false,
    // The hub closes a client at gatewayCloseBytes; uWS must never drop a message silently before.
    maxBackpressure: 2 * config.gatewayCloseBytes + 1024 * 1024,
    closeOnBackpressureLimit: 0,
    upgrade: (res, req, context) => {
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const origin = req.getHeader('origin');
      const host = req.getHeader('host');
      const token = presentedToken(req.getHeader('authorization'), req.getQuery('access_token') ?? '');
      const enc = req.getQuery('encoding') ?? '';
      const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
      if (!originAllowed(origin, host, auth.origins)) {
        return refuse(res, HttpRefusal.ORIGIN, RefusalReason.ORIGIN, 'ORIGIN_NOT_ALLOWED', 'this origin is not allowed (AETHER_GATEWAY_ORIGINS)');
      }
      let digest: string | null = null;
      if (auth.tokens !== null) {
        digest = auth.tokens.match(token);
        if (digest === null) {
          return refuse(res, HttpRefusal.UNAUTHORIZED, RefusalReason.UNAUTHORIZED, 'UNAUTHORIZED', token === null ? 'a bearer token is required (Authorization: Bearer <token> or ?access_token=)' : 'token not accepted', { 'www-authenticate': 'Bearer' });
        }
      }
      if (hub.clients.size >= config.gatewayMaxConnections) {
        return refuse(res, HttpRefusal.SERVER_FULL, RefusalReason.SERVER_FULL, 'SERVER_FULL', `the gateway is at its limit of ${config.gatewayMaxConnections} connections`, { 'retry-after': '5' });
      }
      if ((perIp.get(ip) ?? 0) >= config.gatewayMaxConnectionsPerIp) {
        return refuse(res, HttpRefusal.TOO_MANY_CONNECTIONS, RefusalReason.IP_LIMIT, 'TOO_MANY_CONNECTIONS', `at most ${config.gatewayMaxConnectionsPerIp} connections per address`, { 'retry-after': '5' });
      }
      if (enc !== '' && enc !== Encoding.JSON && enc !== Encoding.MSGPACK) {
        m.refusals.inc({ reason: RefusalReason.BAD_ENCODING });
        return respondJson(res, 400, errorBody('BAD_REQUEST', 'encoding must be json or msgpack'), 'stream', { connection: 'close' });
      }
      perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
      const data: UserData = { ip, encoding: enc === Encoding.MSGPACK ? Encoding.MSGPACK : Encoding.JSON, digest, client: null };
      res.upgrade(data, key, protocol, extensions, context);
    },
    open: (ws: WebSocket<UserData>) => {
      const ud = ws.getUserData();
      const conn: Conn = {
        send: (msg, binary) => ws.send(msg, binary, false),
        buffered: () => ws.getBufferedAmount(),
        end: (code, reason) => ws.end(code, reason),
        ping: () => void ws.ping(),
        cork: (fn) => void ws.cork(fn),
      };
      ud.client = hub.open(conn, ud.ip, ud.encoding, ud.digest);
    },
    message: (ws, message, isBinary) => {
      const c = ws.getUserData().client;
      if (c !== null) hub.onMessage(c, message, isBinary);
    },
    drain: (ws) => {
      const c = ws.getUserData().client;
      if (c !== null) hub.onDrain(c);
    },
    pong: (ws) => {
      const c = ws.getUserData().client;
      if (c !== null) hub.onPong(c);
    },
    close: (ws, code, message) => {
      const ud = ws.getUserData();
      const n = (perIp.get(ud.ip) ?? 1) - 1;
      if (n <= 0) perIp.delete(ud.ip);
      else perIp.set(ud.ip, n);
      // uWS's own payload backstop: the socket is dropped (1006) without a close frame.
      if (code === 1006 && Buffer.from(message).toString() === 'Received too big message') m.refusals.inc({ reason: RefusalReason.MESSAGE_TOO_BIG });
      if (ud.client !== null) hub.onClose(ud.client);
    },
  });

  registerHttp(app, { hub, source, health, auth, log });

  let listenSocket: us_listen_socket | null = null;
  // Exclusive: uWS otherwise sets SO_REUSEPORT, and a second process on the same PORT would
  // silently share (and split) the traffic instead of failing.
  const listen = app.listen as unknown as (host: string, port: number, options: number, cb: (ls: us_listen_socket | false) => void) => void;
  listen.call(app, config.gatewayHost, config.port, LISTEN_EXCLUSIVE_PORT, (ls) => {
    listenSocket = ls === false ? null : ls;
  });
  if (listenSocket === null) {
    (app as unknown as { close?: () => void }).close?.();
    throw new AetherError(ErrorCode.E_GATEWAY_LISTEN, `the gateway cannot listen on ${config.gatewayHost}:${config.port} (PORT, AETHER_GATEWAY_HOST): the port is in use or not permitted`);
  }
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  hub.start();

  const reload =
    auth.tokensFile === null
      ? null
      : setInterval(() => {
          try {
            if (!auth.reload()) return;
            const closed = hub.closeWhere((c) => c.tokenDigest !== null && !auth.tokens!.hasDigest(c.tokenDigest), CloseCode.TOKEN_REVOKED, 'token revoked', RefusalReason.TOKEN_REVOKED);
            log.info({ file: auth.tokensFile, tokens: auth.tokens?.size ?? 0, closed }, 'gateway tokens reloaded');
          } catch (err) {
            const problems = err instanceof ConfigError ? err.violations.map((v) => v.message) : [(err as Error).message];
            log.error({ code: ErrorCode.E_CONFIG, file: auth.tokensFile, problems }, 'gateway token file not reloaded: keeping the previous tokens');
          }
        }, TOKEN_RELOAD_MS);
  reload?.unref();

  log.info(
    {
      port,
      host: config.gatewayHost,
      source: source.kind,
      auth: auth.tokens === null ? 'off' : `bearer tokens (${auth.tokens.size})`,
      origins: auth.origins.size,
      stream: STREAM_PATH,
    },
    `gateway listening on port ${port}: ${STREAM_PATH}, /v1 REST, /healthz, /readyz, /metrics, dashboard at /`,
  );

  let stopped: Promise<void> | null = null;
  return {
    port,
    hub,
    stop: () => {
      stopped ??= (async () => {
        if (reload !== null) clearInterval(reload);
        hub.stop();
        if (listenSocket !== null) uWS.us_listen_socket_close(listenSocket);
        listenSocket = null;
        (app as unknown as { close?: () => void }).close?.();
      })();
      return stopped;
    },
  };
}
