/**
 * The gateway embedded in the engine, without NATS: simulated Kraken exchange (real
 * WebSocket server) → worker actors → in-process feed → uWebSockets.js gateway → real `ws`
 * clients and HTTP requests on a port picked by the OS.
 */
import t from 'tap';
import { MARKET_RISK_KEYS } from '../actors/risk.js';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { loadConfig } from '../engine/config.js';
import { uwsNative } from '../engine/gateway/index.js';
import { startEngine } from '../engine/runtime.js';
import { eventually } from './helpers/eventually.js';
import { rawGet, sequenceProblems, StreamClient } from './helpers/gateway-client.js';
import { memoryLogger } from './helpers/logger.js';

const pairs = defaultSimPairs(4);
const symbols = pairs.map((p) => p.symbol);
const [S0, S1] = symbols as [string, string];
const sim = await startSimExchange({ pairs, bookRatePerSymbol: 30, seed: 7 });
const config = loadConfig({
  env: {},
  overrides: { port: 0, gatewayHost: '127.0.0.1', workers: 1, bookDepth: 10, logLevel: 'warn', logSummaryMs: 0, heartbeatTimeoutMs: 1500, gatewayBookIntervalMs: 50 },
});
const log = memoryLogger('warn');
const engine = await startEngine(config, log, { krakenUrl: sim.url, symbols, simulated: true });
const port = engine.gateway!.port;
const url = `ws://127.0.0.1:${port}/v1/stream`;
const http = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${port}${path}`, init);
const clients: StreamClient[] = [];
const open = async (suffix = '') => {
  const c = await StreamClient.open(url + suffix);
  clients.push(c);
  return c;
};

t.teardown(async () => {
  for (const c of clients) c.ws.terminate();
  await engine.stop();
  await sim.close();
});

t.before(async () => {
  t.ok(uwsNative(), 'the native uWebSockets.js build is loaded (not its JS fallback)');
  t.ok(port > 0, `gateway bound port ${port}`);
  await eventually(async () => (await http('/readyz')).status === 200, 20_000, 'engine ready');
});

t.test('gateway - hello, then on subscribe the current snapshot followed by updates with contiguous per-channel seq', async (t) => {
  const c = await open();
  const hello = await c.waitFor((m) => m.type === 'hello');
  t.equal(hello.version, 1);
  t.equal(hello.simulated, true, 'hello says the data is simulated');
  t.equal(hello.env, 'development');
  t.equal(hello.source, 'embedded');
  t.same(hello.channels, ['risk', 'book', 'trades', 'portfolio', 'events', 'instruments']);
  c.send({ op: 'subscribe', id: 's1', channels: ['risk.*', `book.${S0}`, `trades.${S0}`, 'instruments'] });
  await eventually(
    () => symbols.every((s) => c.channel(`risk.${s}`).length >= 6) && c.channel(`book.${S0}`).length >= 10 && c.channel(`trades.${S0}`).length >= 3,
    20_000,
    'updates on every channel',
  );
  const subscribedAt = c.messages.findIndex((m) => m.type === 'subscribed' && m.id === 's1');
  const firstData = c.messages.findIndex((m) => m.type === 'snapshot' || m.type === 'update');
  t.ok(subscribedAt >= 0 && subscribedAt < firstData, 'the subscribed reply comes before any data');
  t.same(c.messages[subscribedAt]!.channels, ['risk.*', `book.${S0}`, `trades.${S0}`, 'instruments']);
  for (const ch of [...symbols.map((s) => `risk.${s}`), `book.${S0}`, `trades.${S0}`]) {
    const msgs = c.channel(ch);
    t.same(sequenceProblems(msgs), [], `${ch}: snapshot seq 1, then ${msgs.length - 1} updates with contiguous seq`);
    t.ok(msgs.every((m) => m.simulated === true), `${ch}: every message marked simulated`);
  }
  const risk = c.channel(`risk.${S0}`).at(-1)!;
  t.same(Object.keys(risk.data), MARKET_RISK_KEYS, 'risk data is the MarketRisk record, every field in order');
  t.equal(risk.data.symbol, S0);
  t.equal(risk.stale, risk.data.health !== 'LIVE');
  const book = c.channel(`book.${S0}`).at(-1)!.data;
  t.equal(book.symbol, S0);
  t.equal(book.health, 'LIVE');
  t.ok(book.bids.length > 0 && book.bids.length <= 10 && book.asks.length > 0 && book.asks.length <= 10, 'top levels only (AETHER_GATEWAY_BOOK_LEVELS)');
  t.ok(book.bids[0][0] < book.asks[0][0], 'best bid below best ask');
  t.ok(book.bids.every((l: number[], i: number) => i === 0 || l[0]! < book.bids[i - 1][0]), 'bids best first');
  t.ok(book.asks.every((l: number[], i: number) => i === 0 || l[0]! > book.asks[i - 1][0]), 'asks best first');
  t.ok(book.timeUs > 0 && book.seq > 0 && book.epoch > 0);
  const trade = c.channel(`trades.${S0}`).at(-1)!.data;
  t.equal(trade.symbol, S0);
  t.match(trade, { side: /^(buy|sell)$/, price: /^\d+(\.\d+)?$/, qty: /^\d+(\.\d+)?$/ });
  const inst = c.channel('instruments')[0]!;
  t.equal(inst.type, 'snapshot');
  t.same(inst.data.map((i: { symbol: string }) => i.symbol), symbols, 'instruments snapshot lists every instrument');
});

t.test('gateway - a dead venue connection is marked: stale updates while books rebuild, then live again', async (t) => {
  const c = await open();
  c.send({ op: 'subscribe', id: 1, channels: [`risk.${S1}`, 'instruments'] });
  await c.waitFor((m) => m.channel === `risk.${S1}` && m.stale === false, 10_000, 'live snapshot or update');
  const from = c.messages.length;
  sim.inject({ kind: 'stall', ms: 2500 });
  const stale = await c.waitFor((m) => m.channel === `risk.${S1}` && m.stale === true, 8_000, 'stale update', from);
  t.equal(stale.type, 'update');
  t.not(stale.data.health, 'LIVE', `stale marks a ${stale.data.health} record`);
  t.equal(stale.data.mid, null, 'a stale record carries no prices');
  const inst = await c.waitFor((m) => m.channel === 'instruments' && m.data.some((i: { symbol: string; stale: boolean }) => i.symbol === S1 && i.stale), 8_000, 'instruments update', from);
  t.equal(inst.type, 'update');
  const live = await c.waitFor((m) => m.channel === `risk.${S1}` && m.stale === false, 15_000, 'live again', c.messages.indexOf(stale));
  t.equal(live.data.health, 'LIVE');
  t.same(sequenceProblems(c.channel(`risk.${S1}`)), [], 'seq stays contiguous across the outage');
});

t.test('gateway - msgpack binary frames on request (?encoding=msgpack)', async (t) => {
  const c = await open('?encoding=msgpack');
  const hello = await c.waitFor((m) => m.type === 'hello');
  t.equal(hello.encoding, 'msgpack');
  c.send({ op: 'subscribe', id: 'm', channels: [`risk.${S0}`, `book.${S0}`] });
  await eventually(() => c.channel(`risk.${S0}`).length >= 3 && c.channel(`book.${S0}`).length >= 3, 10_000, 'msgpack updates');
  t.equal(c.binaryFrames, c.messages.length, 'every frame is binary');
  t.same(sequenceProblems(c.channel(`risk.${S0}`)), []);
  t.same(sequenceProblems(c.channel(`book.${S0}`)), []);
  const r = c.channel(`risk.${S0}`).at(-1)!;
  t.same(Object.keys(r.data), MARKET_RISK_KEYS, 'the same record as in JSON');
  t.equal(typeof r.data.mid, 'number');
  const b = c.channel(`book.${S0}`).at(-1)!;
  t.ok(Array.isArray(b.data.bids) && b.data.bids[0].length === 2);
});

t.test('gateway - bad requests get an error reply with a code and reason; the connection stays usable', async (t) => {
  const c = await open();
  await c.waitFor((m) => m.type === 'hello');
  const cases: [unknown, string, unknown][] = [
    [{ op: 'subscribe', id: 1, channels: ['nope.BTC/USD'] }, 'UNKNOWN_CHANNEL', 1],
    [{ op: 'subscribe', id: 2, channels: ['risk.FOO/BAR'] }, 'UNKNOWN_CHANNEL', 2],
    [{ op: 'subscribe', id: 3, channels: ['risk.btc-usd'] }, 'UNKNOWN_CHANNEL', 3],
    [{ op: 'subscribe', id: 4, channels: 'risk.*' }, 'BAD_REQUEST', 4],
    [{ op: 'subscribe', id: 5, channels: [`risk.${S0}`], maxRateHz: -1 }, 'BAD_REQUEST', 5],
    [{ op: 'dance', id: 6 }, 'BAD_REQUEST', 6],
    ['this is not json', 'BAD_REQUEST', null],
    [[1, 2], 'BAD_REQUEST', null],
  ];
  for (const [req, code, id] of cases) {
    const from = c.messages.length;
    c.send(req);
    const e = await c.waitFor((m) => m.type === 'error', 5_000, `error for ${JSON.stringify(req)}`, from);
    t.equal(e.code, code, `${JSON.stringify(req)} → ${code}`);
    t.equal(e.id, id, 'the request id is echoed');
    t.ok(typeof e.reason === 'string' && e.reason.length > 10, `with a reason: ${e.reason}`);
  }
  t.equal(c.channel(`risk.${S0}`).length, 0, 'a refused subscription delivers nothing (all or nothing)');
  c.send({ op: 'ping', id: 'p1' });
  const pong = await c.waitFor((m) => m.type === 'pong');
  t.equal(pong.id, 'p1');
  t.equal(c.closeInfo, null, 'still open');
});

t.test('gateway - unsubscribe stops a channel; subscribing again starts over with a snapshot at seq 1', async (t) => {
  const c = await open();
  c.send({ op: 'subscribe', id: 'a', channels: [`book.${S0}`] });
  await eventually(() => c.channel(`book.${S0}`).length >= 3, 10_000, 'book updates');
  c.send({ op: 'unsubscribe', id: 'b', channels: [`book.${S0}`] });
  const un = await c.waitFor((m) => m.type === 'unsubscribed' && m.id === 'b');
  t.same(un.channels, [`book.${S0}`]);
  const at = c.messages.indexOf(un);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(c.messages.slice(at).filter((m) => m.channel === `book.${S0}`).length, 0, 'nothing after the unsubscribed reply');
  c.send({ op: 'subscribe', id: 'c', channels: [`book.${S0}`] });
  const again = await c.waitFor((m) => m.channel === `book.${S0}`, 5_000, 'new snapshot', c.messages.length);
  t.equal(again.type, 'snapshot');
  t.equal(again.seq, 1);
});

t.test('gateway - maxRateHz conflates one client\'s channel (flagged, contiguous seq) while another client on it gets every update', async (t) => {
  const slow = await open();
  const fast = await open();
  slow.send({ op: 'subscribe', id: 1, channels: [`book.${S0}`], maxRateHz: 2 });
  fast.send({ op: 'subscribe', id: 1, channels: [`book.${S0}`] });
  await new Promise((r) => setTimeout(r, 3000));
  const s = slow.channel(`book.${S0}`);
  const f = fast.channel(`book.${S0}`);
  t.ok(s.length >= 4 && s.length <= 9, `about 2 per second for 3 s: ${s.length}`);
  t.ok(f.length > 3 * s.length, `the other client got every update: ${f.length}`);
  t.same(sequenceProblems(s, { allowConflated: true }), [], 'conflated channel: seq still contiguous');
  t.ok(s.some((m) => m.conflated === true && m.skipped! > 0), 'skipped updates are flagged (conflated, skipped count)');
  t.ok(s.every((m) => (m.conflated === true) === (m.skipped! > 0)), 'conflated is true exactly when skipped > 0');
  t.same(sequenceProblems(f), [], 'the unlimited client: contiguous, never conflated');
  const info = engine.gateway!.hub.info();
  const fi = info.find((i) => i.channels[`book.${S0}`] !== undefined && i.channels[`book.${S0}`]!.skipped === 0 && i.channels[`book.${S0}`]!.seq === f.at(-1)!.seq);
  t.ok(fi, 'the server skipped nothing for the unlimited client');
  slow.close();
  fast.close();
});

t.test('gateway - REST snapshots use the stream\'s JSON; unknown things are 404 JSON errors; traversal is refused', async (t) => {
  const inst = await http('/v1/instruments');
  t.equal(inst.status, 200);
  t.match(inst.headers.get('content-type'), 'application/json');
  const list = (await inst.json()) as { symbol: string; health: string; seq: number; lastUpdateUs: number | null }[];
  t.same(list.map((i) => i.symbol), symbols);
  t.same(Object.keys(list[0]!), ['symbol', 'health', 'reason', 'stale', 'quiet', 'seq', 'epoch', 'lastUpdateUs']);
  t.ok(list.every((i) => i.health === 'LIVE' && i.seq > 0 && i.lastUpdateUs! > 0));
  const token = S0.replace('/', '-');
  for (const path of [`/v1/risk/${token}`, `/v1/risk/${S0}`, `/v1/risk/${encodeURIComponent(S0)}`]) {
    const r = await http(path);
    t.equal(r.status, 200, path);
    const body = (await r.json()) as Record<string, unknown>;
    t.equal(body.symbol, S0);
    t.same(Object.keys(body), MARKET_RISK_KEYS, `${path}: the MarketRisk record, as in risk.${S0} data`);
  }
  const unknown = await http('/v1/risk/NOPE-USD');
  t.equal(unknown.status, 404);
  t.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'UNKNOWN_SYMBOL');
  const acct = await http('/v1/portfolio/desk-1');
  t.equal(acct.status, 404);
  t.equal(((await acct.json()) as { error: { code: string } }).error.code, 'UNKNOWN_ACCOUNT');
  t.equal((await http('/v1/instruments', { method: 'POST' })).status, 405);
  t.equal((await http('/healthz')).status, 200);

  const page = await http('/');
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), 'text/html');
  t.match(await page.text(), /<html/i);
  for (const [file, type] of [['/app.js', 'text/javascript'], ['/style.css', 'text/css'], ['/index.html', 'text/html']] as const) {
    const r = await http(file);
    t.equal(r.status, 200, file);
    t.match(r.headers.get('content-type'), type, `${file} served as ${type}`);
    t.equal(r.headers.get('x-content-type-options'), 'nosniff');
  }
  for (const path of ['/../package.json', '/%2e%2e/%2e%2e/package.json', '/..%2f..%2f..%2fpackage.json', '/%2e%2e%2f%2e%2e%2fREADME.md', '/nope.html']) {
    const r = await rawGet(port, path);
    t.equal(r.status, 404, `${path} → 404`);
    t.notMatch(r.text, '"name": "aether-risk"', `${path} leaks nothing`);
  }
});

t.test('gateway - /readyz names every component; /metrics exposes feed, gateway and latency metrics', async (t) => {
  const r = await http('/readyz');
  t.equal(r.status, 200);
  const body = (await r.json()) as { status: string; failing: string[]; components: Record<string, { ok: boolean; detail: Record<string, unknown> }> };
  t.equal(body.status, 'ready');
  t.same(body.failing, []);
  t.same(Object.keys(body.components).sort(), ['feed', 'nats', 'postgres', 'redis', 'workers']);
  t.same(body.components.nats!.detail, { state: 'off' }, 'NATS not configured: reported off, not failing');
  t.same(Object.keys(body.components.feed!.detail.symbols as object), symbols, 'feed state per symbol');
  const text = await (await http('/metrics')).text();
  for (const name of [
    'aether_book_messages_total',
    'aether_checksum_mismatches_total',
    'aether_resyncs_total',
    'aether_book_health',
    'aether_nodejs_eventloop_lag_p99_seconds',
    'aether_nats_dropped_total',
    'aether_gateway_clients',
    'aether_gateway_conflations_total',
    'aether_gateway_conflated_updates_total',
    'aether_gateway_slow_client_closes_total',
    'aether_gateway_refusals_total',
    'aether_gateway_messages_sent_total',
    'aether_pretrade_check_seconds',
    'aether_risk_delivery_seconds_bucket',
    'aether_mailbox_depth',
    'aether_trades_dropped_total',
    'aether_ready 1',
    'aether_component_ok{component="feed"} 1',
  ]) {
    t.match(text, name, `/metrics has ${name}`);
  }
  t.match(text, /aether_gateway_conflated_updates_total\{cause="rate"\} [1-9]/, 'the maxRateHz conflation was counted');
  // The hot-path histogram: sampled frames, cumulative buckets ending in +Inf = count.
  const count = Number(/aether_hot_path_seconds_count\{worker="0"\} (\d+)/.exec(text)?.[1] ?? NaN);
  const inf = Number(/aether_hot_path_seconds_bucket\{worker="0",le="\+Inf"\} (\d+)/.exec(text)?.[1] ?? NaN);
  t.ok(count > 0, `hot-path latency sampled (${count} frames)`);
  t.equal(inf, count, '+Inf bucket equals the count');
  t.match(text, /# TYPE aether_hot_path_seconds histogram/);
});

t.test('gateway - stopping the engine closes every stream with 1001 and frees the port', async (t) => {
  const c = await open();
  await c.waitFor((m) => m.type === 'hello');
  await engine.stop();
  const closed = await c.closed;
  t.equal(closed.code, 1001);
  await t.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'nothing listens any more');
});
