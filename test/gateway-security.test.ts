/**
 * Gateway security against the real server: bearer tokens (environment and file, hashed),
 * the origin allowlist, connections per IP, the inbound size limit, the control-message rate
 * limit, the idle timeout, token revocation, and production's refusal to run without tokens.
 * Each refusal has its own HTTP status or close code and a metric with a `reason` label.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { loadConfig } from '../engine/config.js';
import { ConfigError } from '../engine/errors.js';
import { resolveAuth } from '../engine/gateway/index.js';
import { gatewayMetrics } from '../engine/metrics.js';
import { startEngine } from '../engine/runtime.js';
import { eventually } from './helpers/eventually.js';
import { StreamClient } from './helpers/gateway-client.js';
import { memoryLogger } from './helpers/logger.js';

const ENV_TOKEN = 'env-token-4f1b9c0e7a2d';
const FILE_TOKEN_A = 'file-token-a-93bd21f0c8';
const FILE_TOKEN_B = 'file-token-b-5e7a0d3c11';
const dir = mkdtempSync(join(tmpdir(), 'aether-gw-sec-'));
const tokenFile = join(dir, 'tokens');
writeFileSync(tokenFile, `# gateway tokens\n${FILE_TOKEN_A}\n\n${FILE_TOKEN_B}\n`);
const ALLOWED_ORIGIN = 'https://dash.example.com';

const pairs = defaultSimPairs(2);
const symbols = pairs.map((p) => p.symbol);
const sim = await startSimExchange({ pairs, bookRatePerSymbol: 10, seed: 3 });
const config = loadConfig({
  env: {},
  overrides: {
    port: 0,
    gatewayHost: '127.0.0.1',
    workers: 1,
    bookDepth: 10,
    logLevel: 'info',
    logSummaryMs: 0,
    gatewayTokens: ENV_TOKEN,
    gatewayTokensFile: tokenFile,
    gatewayOrigins: ALLOWED_ORIGIN,
    gatewayMaxConnectionsPerIp: 4,
    gatewayControlRate: 5,
    gatewayControlBurst: 10,
    gatewayIdleTimeoutSec: 2,
  },
});
const log = memoryLogger('info');
const engine = await startEngine(config, log, { krakenUrl: sim.url, symbols, simulated: true });
const port = engine.gateway!.port;
const hub = engine.gateway!.hub;
const url = `ws://127.0.0.1:${port}/v1/stream`;
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

t.teardown(async () => {
  await engine.stop();
  await sim.close();
});

async function refusals(reason: string): Promise<number> {
  return (await gatewayMetrics.refusals.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** The HTTP status of a refused upgrade (fails the test if the upgrade succeeds). */
async function refusedWith(target: string, options: Parameters<typeof StreamClient.open>[1] = {}): Promise<number> {
  try {
    const c = await StreamClient.open(target, options);
    c.ws.terminate();
    return 101;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

async function idle(): Promise<void> {
  await eventually(() => hub.clients.size === 0, 5_000, 'all connections closed');
}

t.test('gateway security - without a valid token the upgrade is refused with 401 and no socket opens', async (t) => {
  const before = await refusals('unauthorized');
  t.equal(await refusedWith(url), 401, 'no token');
  t.equal(await refusedWith(url, bearer('wrong-token-000000000')), 401, 'wrong bearer token');
  t.equal(await refusedWith(`${url}?access_token=wrong-token-000000000`), 401, 'wrong query token');
  t.equal(await refusedWith(url, { headers: { authorization: `Basic ${Buffer.from(`x:${ENV_TOKEN}`).toString('base64')}` } }), 401, 'not a bearer scheme');
  t.equal(hub.clients.size, 0, 'no connection was ever opened');
  t.equal((await refusals('unauthorized')) - before, 4, 'each refusal counted (reason=unauthorized)');
  for (const [what, target, options] of [
    ['environment token in the header', url, bearer(ENV_TOKEN)],
    ['file token in the header', url, bearer(FILE_TOKEN_A)],
    ['file token in the query (browsers)', `${url}?access_token=${encodeURIComponent(FILE_TOKEN_B)}`, {}],
  ] as const) {
    const c = await StreamClient.open(target, options);
    const hello = await c.waitFor((m) => m.type === 'hello');
    t.equal(hello.version, 1, `${what}: accepted`);
    c.close();
  }
  await idle();
});

t.test('gateway security - a browser origin outside the allowlist is refused with 403 before the upgrade', async (t) => {
  const before = await refusals('origin');
  t.equal(await refusedWith(url, { ...bearer(ENV_TOKEN), origin: 'https://evil.example.com' }), 403, 'foreign origin');
  t.equal(await refusedWith(url, { ...bearer(ENV_TOKEN), origin: 'https://dash.example.com.evil.net' }), 403, 'no prefix or substring matching');
  t.equal(await refusedWith(url, { ...bearer(ENV_TOKEN), origin: 'null' }), 403, 'opaque origin');
  t.equal(await refusedWith(url, { origin: 'https://evil.example.com' }), 403, 'origin is checked before the token');
  t.equal((await refusals('origin')) - before, 4);
  for (const origin of [ALLOWED_ORIGIN, `http://127.0.0.1:${port}`]) {
    const c = await StreamClient.open(url, { ...bearer(ENV_TOKEN), origin });
    await c.waitFor((m) => m.type === 'hello');
    t.pass(`${origin} accepted`);
    c.close();
  }
  await idle();
});

t.test('gateway security - connections per address are capped: the next one is refused with 429', async (t) => {
  const before = await refusals('ip_limit');
  const open = await Promise.all([1, 2, 3, 4].map(() => StreamClient.open(url, bearer(ENV_TOKEN))));
  t.equal(await refusedWith(url, bearer(ENV_TOKEN)), 429, 'the fifth from 127.0.0.1');
  t.equal((await refusals('ip_limit')) - before, 1);
  open[0]!.close();
  await eventually(() => hub.clients.size === 3, 5_000, 'one closed');
  const again = await StreamClient.open(url, bearer(ENV_TOKEN));
  t.pass('a slot freed by a close is usable again');
  for (const c of [...open, again]) c.close();
  await idle();
});

t.test('gateway security - an inbound message over 4 KiB closes the connection with 1009', async (t) => {
  const c = await StreamClient.open(url, bearer(ENV_TOKEN));
  await c.waitFor((m) => m.type === 'hello');
  const limit = JSON.stringify({ op: 'ping', id: '' }).length;
  c.send(JSON.stringify({ op: 'ping', id: 'x'.repeat(4096 - limit) }));
  const pong = await c.waitFor((m) => m.type === 'pong');
  t.equal((pong.id as string).length, 4096 - limit, 'exactly 4096 bytes is accepted');
  const before = await refusals('message_too_big');
  c.send(JSON.stringify({ op: 'ping', id: 'x'.repeat(5000) }));
  const closed = await c.closed;
  t.equal(closed.code, 1009, `closed with 1009 (${closed.reason})`);
  t.equal((await refusals('message_too_big')) - before, 1);
  await idle();
});

t.test('gateway security - a control-message flood is refused (RATE_LIMITED), then closed with 4008', async (t) => {
  const c = await StreamClient.open(url, bearer(ENV_TOKEN));
  await c.waitFor((m) => m.type === 'hello');
  const before = await refusals('rate_limited');
  for (let i = 0; i < 60; i++) c.send({ op: 'ping', id: i });
  const closed = await c.closed;
  t.equal(closed.code, 4008, `closed with 4008 (${closed.reason})`);
  const pongs = c.messages.filter((m) => m.type === 'pong').length;
  const limited = c.messages.filter((m) => m.type === 'error' && m.code === 'RATE_LIMITED').length;
  t.ok(pongs >= 10 && pongs <= 12, `the burst (10) was served: ${pongs} pongs`);
  t.ok(limited >= 9 && limited <= 11, `then refused with RATE_LIMITED: ${limited}`);
  t.equal((await refusals('rate_limited')) - before, 1);
  await idle();
});

t.test('gateway security - a client that answers nothing is closed with 4010 at the idle timeout; one that answers pings stays', async (t) => {
  const before = await refusals('idle_timeout');
  const dead = await StreamClient.open(url, { ...bearer(ENV_TOKEN), autoPong: false });
  const alive = await StreamClient.open(url, bearer(ENV_TOKEN));
  const t0 = Date.now();
  const closed = await dead.closed;
  const after = Date.now() - t0;
  t.equal(closed.code, 4010, `closed with 4010 (${closed.reason})`);
  t.ok(after >= 1500 && after <= 4500, `after about the 2 s timeout: ${after} ms`);
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(alive.closeInfo, null, 'the client answering pings is still open');
  t.equal((await refusals('idle_timeout')) - before, 1);
  alive.close();
  await idle();
});

t.test('gateway security - removing a token from the token file closes the connections that used it (4401)', async (t) => {
  const b = await StreamClient.open(url, bearer(FILE_TOKEN_B));
  const env = await StreamClient.open(url, bearer(ENV_TOKEN));
  await b.waitFor((m) => m.type === 'hello');
  const before = await refusals('token_revoked');
  writeFileSync(tokenFile, `${FILE_TOKEN_A}\n`);
  const closed = await b.closed;
  t.equal(closed.code, 4401, `closed with 4401 (${closed.reason})`);
  t.equal(env.closeInfo, null, 'other tokens stay connected');
  t.equal(await refusedWith(url, bearer(FILE_TOKEN_B)), 401, 'the removed token is refused from now on');
  t.equal((await refusals('token_revoked')) - before, 1);
  env.close();
  await idle();
});

t.test('gateway security - REST needs the token too; the probes and metrics stay open', async (t) => {
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}${path}`, { headers });
  const no = await get('/v1/instruments');
  t.equal(no.status, 401);
  t.equal(no.headers.get('www-authenticate'), 'Bearer');
  t.equal((await get('/v1/instruments', { authorization: 'Bearer wrong-token-000000000' })).status, 401);
  t.equal((await get(`/v1/risk/${symbols[0]!.replace('/', '-')}`)).status, 401);
  t.equal((await get('/v1/instruments', { authorization: `Bearer ${ENV_TOKEN}` })).status, 200);
  t.equal((await get(`/v1/instruments?access_token=${FILE_TOKEN_A}`)).status, 200);
  for (const path of ['/healthz', '/readyz', '/metrics']) t.not((await get(path)).status, 401, `${path} needs no token`);
});

t.test('gateway security - no token ever reaches the log', async (t) => {
  t.ok(log.lines.length > 0, `${log.lines.length} log lines written`);
  const all = log.lines.join('');
  for (const token of [ENV_TOKEN, FILE_TOKEN_A, FILE_TOKEN_B]) t.notMatch(all, token, 'token absent from the log');
  t.notMatch(all, /Bearer /, 'no authorization header logged');
  t.match(all, 'gateway tokens reloaded', 'the reload was logged (by file name, not content)');
});

t.test('gateway security - production refuses to start without tokens, naming the setting, before opening anything', async (t) => {
  const prod = loadConfig({ env: { AETHER_ENV: 'production' }, overrides: { port: 0 } });
  const err = await startEngine(prod, memoryLogger('silent'), { symbols: ['BTC/USD'], simulated: false, krakenUrl: 'ws://127.0.0.1:9/v2' }).then(
    () => null,
    (e: unknown) => e,
  );
  t.type(err, ConfigError);
  t.equal((err as ConfigError).code, 'E_CONFIG');
  t.match((err as ConfigError).message, 'AETHER_GATEWAY_TOKENS_FILE or AETHER_GATEWAY_TOKENS');
  t.match((err as ConfigError).message, 'production');
  t.doesNotThrow(() => resolveAuth(loadConfig({ env: { AETHER_ENV: 'production', AETHER_GATEWAY_TOKENS: ENV_TOKEN } })), 'production with a token is fine');
  t.doesNotThrow(() => resolveAuth(loadConfig({ env: { AETHER_ENV: 'development' } })), 'development may run without tokens');

  const bad = join(dir, 'bad-tokens');
  writeFileSync(bad, `${FILE_TOKEN_A}\nshort\n`);
  const e2 = (() => {
    try {
      resolveAuth(loadConfig({ env: { AETHER_GATEWAY_TOKENS_FILE: bad } }));
      return null;
    } catch (e) {
      return e as ConfigError;
    }
  })();
  t.type(e2, ConfigError);
  t.match(e2!.message, 'line(s) 2', 'the bad line is named');
  t.notMatch(e2!.message, 'short', 'its content is not echoed');
  const e3 = (() => {
    try {
      loadConfig({ env: { AETHER_GATEWAY_TOKENS: 'tiny' } });
      return null;
    } catch (e) {
      return e as ConfigError;
    }
  })();
  t.type(e3, ConfigError);
  t.notMatch(e3!.message, 'tiny', 'a refused token is not echoed either');
});
