/**
 * Both ways the gateway gets its data, side by side on real NATS: the gateway embedded in the
 * engine (in-process feed), and `aether-risk gateway` as a separate process fed from NATS.
 * Risk, account risk (from a real fill on JetStream) and a trading-state event (a real halt
 * command) reach WebSocket clients of both.
 */
import t from 'tap';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { MARKET_RISK_KEYS } from '../actors/risk.js';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { checkOrder, haltAccount } from '../adapters/nats/client.js';
import { trace, type Span, type SpanStatus, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { latencyMetrics } from '../engine/metrics.js';
import { SpanName, startSpan, endSpan, traced } from '../engine/tracing.js';
import { loadConfig } from '../engine/config.js';
import { startEngine } from '../engine/runtime.js';
import { fillsSubject, streamName } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';
import { sequenceProblems, StreamClient } from './helpers/gateway-client.js';
import { memoryLogger } from './helpers/logger.js';
import { jsonLines, spawnCli } from './helpers/spawn-cli.js';

/**
 * A minimal recording TracerProvider written against the OpenTelemetry API (no SDK), to see
 * the spans the engine starts once a provider is registered.
 */
interface Recorded {
  name: string;
  attributes: Record<string, unknown>;
  status: SpanStatus | null;
  ended: boolean;
}
const recorded: Recorded[] = [];
function recordingSpan(name: string, attributes: Record<string, unknown>): Span {
  const rec: Recorded = { name, attributes: { ...attributes }, status: null, ended: false };
  recorded.push(rec);
  const span: Span = {
    spanContext: () => ({ traceId: '0'.repeat(31) + '1', spanId: '0'.repeat(15) + '1', traceFlags: 1 }),
    setAttribute: (k, v) => ((rec.attributes[k] = v), span),
    setAttributes: (a) => (Object.assign(rec.attributes, a), span),
    addEvent: () => span,
    addLink: () => span,
    addLinks: () => span,
    setStatus: (st) => ((rec.status = st), span),
    updateName: (n) => ((rec.name = n), span),
    end: () => void (rec.ended = true),
    isRecording: () => !rec.ended,
    recordException: () => undefined,
  };
  return span;
}
const recordingTracer = {
  startSpan: (name: string, options?: { attributes?: Record<string, unknown> }) => recordingSpan(name, options?.attributes ?? {}),
  startActiveSpan: (name: string, ...args: unknown[]) => {
    const fn = args.at(-1) as (s: Span) => unknown;
    const options = (args.length > 1 ? args[0] : undefined) as { attributes?: Record<string, unknown> } | undefined;
    return fn(recordingSpan(name, options?.attributes ?? {}));
  },
} as unknown as Tracer;
const provider: TracerProvider = { getTracer: () => recordingTracer };
trace.setGlobalTracerProvider(provider);

const ns = `t_gwnats_${process.pid}`;
const ADMIN = 'admin-token-for-gateway-nats-test';
const pairs = defaultSimPairs(3);
const symbols = pairs.map((p) => p.symbol);
const [S0] = symbols as [string];
const sim = await startSimExchange({ pairs, bookRatePerSymbol: 20, seed: 21 });
const config = loadConfig({
  env: {},
  overrides: {
    port: 0,
    gatewayHost: '127.0.0.1',
    natsUrl: 'nats://127.0.0.1:4222',
    natsNamespace: ns,
    adminToken: ADMIN,
    workers: 1,
    bookDepth: 10,
    logLevel: 'silent',
    logSummaryMs: 0,
  },
});
const engine = await startEngine(config, memoryLogger('silent'), { krakenUrl: sim.url, symbols, simulated: true });
const embeddedPort = engine.gateway!.port;

const child = spawnCli(['gateway', '--port', '0'], {
  NATS_URL: 'nats://127.0.0.1:4222',
  AETHER_NATS_NAMESPACE: ns,
  AETHER_GATEWAY_HOST: '127.0.0.1',
  AETHER_SYMBOLS: symbols.join(','),
  AETHER_LOG_LEVEL: 'info',
});
const natsPort = await eventually(() => jsonLines(child.err).find((l) => typeof l.port === 'number' && String(l.msg).startsWith('gateway listening'))?.port as number | undefined, 20_000, 'gateway process listening');

const nc: NatsConnection = await connect({ servers: 'nats://127.0.0.1:4222' });
const clients: StreamClient[] = [];
const open = async (port: number) => {
  const c = await StreamClient.open(`ws://127.0.0.1:${port}/v1/stream`);
  clients.push(c);
  return c;
};
const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);

t.teardown(async () => {
  for (const c of clients) c.ws.terminate();
  if (child.exitCode === null) child.kill('SIGTERM');
  await child.exited;
  await engine.stop();
  await sim.close();
  const jsm = await jetstreamManager(nc);
  for (const s of ['FILLS', 'DEADLETTER', 'EVENTS'] as const) await jsm.streams.delete(streamName(ns, s)).catch(() => undefined);
  await nc.close();
});

t.test('gateway nats - the separate process is ready once NATS is connected and the engine reports LIVE instruments', async (t) => {
  const r = await eventually(async () => {
    const x = await get(natsPort, '/readyz');
    return x.status === 200 ? ((await x.json()) as { components: Record<string, { ok: boolean; detail: Record<string, unknown> }> }) : null;
  }, 20_000, 'NATS-fed gateway ready');
  t.same(Object.keys(r.components).sort(), ['feed', 'nats']);
  t.equal(r.components.nats!.detail.state, 'connected');
  t.equal(r.components.feed!.detail.total, symbols.length);
});

t.test('gateway nats - risk from NATS: snapshot then contiguous updates, the same records as the embedded gateway', async (t) => {
  const c = await open(natsPort);
  const hello = await c.waitFor((m) => m.type === 'hello');
  t.equal(hello.source, 'nats');
  t.equal(hello.simulated, true, 'records from a simulated engine make the stream simulated');
  t.same(hello.channels, ['risk', 'portfolio', 'events', 'instruments'], 'no book or trades channels from NATS');
  c.send({ op: 'subscribe', id: 1, channels: ['risk.*', 'instruments'] });
  await eventually(() => symbols.every((s) => c.channel(`risk.${s}`).length >= 10), 15_000, 'risk over NATS');
  for (const s of symbols) t.same(sequenceProblems(c.channel(`risk.${s}`)), [], `risk.${s}: snapshot, then contiguous seq`);
  const r = c.channel(`risk.${S0}`).at(-1)!;
  t.same(Object.keys(r.data), MARKET_RISK_KEYS, 'data is the MarketRisk record');
  t.equal(r.simulated, true);
  // Every record the engine published reaches the NATS-fed stream: record seq has no gaps.
  const recs = c.channel(`risk.${S0}`).slice(1).map((m) => m.data as { seq: number; epoch: number });
  t.ok(recs.every((x, i) => i === 0 || x.epoch !== recs[i - 1]!.epoch || x.seq === recs[i - 1]!.seq + 1), 'engine seq contiguous within the epoch');
  const inst = c.channel('instruments')[0]!;
  t.same(inst.data.map((i: { symbol: string }) => i.symbol), symbols);

  const rest = (await (await get(natsPort, `/v1/risk/${S0.replace('/', '-')}`)).json()) as Record<string, unknown>;
  t.same(Object.keys(rest), MARKET_RISK_KEYS, 'REST on the NATS-fed gateway: the same record');
  const e = await open(embeddedPort);
  e.send({ op: 'subscribe', id: 1, channels: [`risk.${S0}`] });
  const snap = await e.waitFor((m) => m.channel === `risk.${S0}` && m.type === 'snapshot');
  t.same(Object.keys(snap.data), Object.keys(r.data), 'embedded and NATS-fed gateways send the same schema');

  c.send({ op: 'subscribe', id: 2, channels: ['book.*'] });
  const err = await c.waitFor((m) => m.type === 'error' && m.id === 2);
  t.equal(err.code, 'UNAVAILABLE', `book channels: ${err.reason}`);
  c.send({ op: 'subscribe', id: 3, channels: [`trades.${S0}`] });
  t.equal((await c.waitFor((m) => m.type === 'error' && m.id === 3)).code, 'UNAVAILABLE');
});

t.test('gateway nats - account risk from a real fill and a halt event reach both gateways', async (t) => {
  await engine.riskHost;
  const viaNats = await open(natsPort);
  const embedded = await open(embeddedPort);
  for (const c of [viaNats, embedded]) c.send({ op: 'subscribe', id: 'acct', channels: ['portfolio.*', 'events'] });
  for (const c of [viaNats, embedded]) {
    const ev = await c.waitFor((m) => m.channel === 'events' && m.type === 'snapshot');
    t.same(ev.data, [], 'events snapshot: recent events (none yet)');
  }
  const js = jetstream(nc);
  await js.publish(fillsSubject(ns, 'desk-7'), JSON.stringify({ fill_id: 'GW-1', account: 'desk-7', symbol: S0, side: 'buy', price: '60000', qty: '0.5' }), { msgID: `gw-fill-1-${ns}` });
  for (const [name, c] of [['NATS-fed', viaNats], ['embedded', embedded]] as const) {
    const p = await c.waitFor((m) => m.channel === 'portfolio.desk-7' && m.data?.positions?.length === 1, 15_000, `${name}: portfolio`);
    t.equal(p.type, 'snapshot', `${name}: an account that appears under portfolio.* starts with a snapshot`);
    t.equal(p.data.account, 'desk-7');
    t.equal(p.data.positions[0].symbol, S0);
    t.equal(p.data.positions[0].qty, 0.5);
  }
  await eventually(() => viaNats.channel('portfolio.desk-7').length >= 3, 10_000, 'portfolio updates every second');
  t.same(sequenceProblems(viaNats.channel('portfolio.desk-7')), []);
  for (const port of [natsPort, embeddedPort]) {
    const r = await get(port, '/v1/portfolio/desk-7');
    t.equal(r.status, 200, `REST portfolio on port ${port}`);
    t.equal(((await r.json()) as { account: string }).account, 'desk-7');
  }

  const reply = await haltAccount(nc, 'desk-7', 'gateway test', ADMIN, { namespace: ns });
  t.equal(reply.ok, true);
  for (const [name, c] of [['NATS-fed', viaNats], ['embedded', embedded]] as const) {
    const e = await c.waitFor((m) => m.channel === 'events' && m.type === 'update', 10_000, `${name}: halt event`);
    t.match(e.data, { account: 'desk-7', to: 'HALTED', reason: /gateway test/, manual: true }, `${name}: the state event`);
  }
});

t.test('gateway nats - with an OpenTelemetry provider registered, pre-trade checks are spans and timed in the latency histogram', async (t) => {
  const before = (await latencyMetrics.preTradeCheck.get()).values.find((v) => v.metricName === 'aether_pretrade_check_seconds_count')?.value ?? 0;
  const d = await checkOrder(nc, { account: 'desk-8', symbol: S0, side: 'buy', qty: '0.01' }, { namespace: ns });
  t.type(d.accept, 'boolean', 'the check was answered');
  const span = await eventually(() => recorded.find((r) => r.name === SpanName.PRE_TRADE_CHECK && r.ended), 5_000, 'pre-trade span');
  t.equal(span.status, null, 'a decided check is not an error span');
  const after = (await latencyMetrics.preTradeCheck.get()).values.find((v) => v.metricName === 'aether_pretrade_check_seconds_count')?.value ?? 0;
  t.equal(after - before, 1, 'aether_pretrade_check_seconds counted the check');
  // The helpers: attributes, error status, rethrow.
  const s = startSpan(SpanName.RESYNC, { 'aether.symbol': S0 });
  endSpan(s, 'connection closed');
  const r = recorded.find((x) => x.name === SpanName.RESYNC)!;
  t.match(r, { attributes: { 'aether.symbol': S0 }, status: { code: 2, message: 'connection closed' }, ended: true });
  t.throws(() => traced(SpanName.SNAPSHOT_FLUSH, undefined, () => { throw new Error('disk full'); }), /disk full/);
  t.match(recorded.find((x) => x.name === SpanName.SNAPSHOT_FLUSH), { status: { code: 2, message: 'disk full' }, ended: true });
});

t.test('gateway nats - SIGTERM stops the gateway process cleanly: clients get 1001, exit code 0', async (t) => {
  const c = await open(natsPort);
  await c.waitFor((m) => m.type === 'hello');
  child.kill('SIGTERM');
  t.equal((await c.closed).code, 1001);
  t.equal(await child.exited, 0);
  t.notMatch(child.err, ADMIN, 'no secret in its log');
});
