/**
 * Redis as the latest-state cache: stopped for 10 s while the engine runs, the engine keeps
 * producing risk with at most one pending value per key (bounded memory), and every key is
 * back within 2 s of Redis returning (a fresh Redis that lost everything). Also: checkpoints
 * from Redis and PostgreSQL that disagree at the same fill sequence resolve to PostgreSQL.
 *
 * The outage is real, so it uses a redis-server of its own on a free port.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import pg from 'pg';
import { Redis } from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { loadConfig } from '../engine/config.js';
import { startEngine } from '../engine/runtime.js';
import { createCheckpointStore, type Checkpoint } from '../engine/persist/checkpoint.js';
import { migrate, RedisState } from '../engine/persist/index.js';
import { PgWriter } from '../engine/persist/writer.js';
import type { PersistRecord } from '../engine/persist/records.js';
import { fillsSubject, recordsStreamName, redisKey, streamName } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';
import { memoryLogger } from './helpers/logger.js';
import { freePort } from './helpers/net.js';

const port = await freePort();
const REDIS = `redis://127.0.0.1:${port}`;
let server: ChildProcess | null = null;
async function redisUp(): Promise<void> {
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await eventually(() => ping(), 10_000, 'redis-server up', 50);
}
/** PING over a raw socket: true once redis-server answers. */
function ping(): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port }, () => sock.write('PING\r\n'));
    sock.setTimeout(500, () => sock.destroy());
    sock.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      sock.destroy();
    });
    sock.on('error', () => resolve(false));
    sock.on('close', () => resolve(false));
  });
}
async function redisDown(): Promise<void> {
  const s = server!;
  s.kill('SIGKILL'); // a crash: it keeps nothing
  await new Promise((r) => s.once('exit', r));
  server = null;
}
await redisUp();

const ns = `t_redis_${process.pid}`;
const prefix = 'r:';
const pairs = defaultSimPairs(4);
const sim = await startSimExchange({ pairs, bookRatePerSymbol: 50, seed: 5 });
const log = memoryLogger('fatal');
const config = loadConfig({ env: {}, overrides: { port: 0, natsUrl: 'nats://127.0.0.1:4222', natsNamespace: ns, redisUrl: REDIS, redisPrefix: prefix, workers: 1, bookDepth: 10, logLevel: 'fatal', logSummaryMs: 0 } });
const engine = await startEngine(config, log, { krakenUrl: sim.url, symbols: pairs.map((p) => p.symbol), simulated: true });
const nc = await connect({ servers: 'nats://127.0.0.1:4222' });

t.teardown(async () => {
  await engine.stop();
  await sim.close();
  const jsm = await jetstreamManager(nc);
  for (const s of [streamName(ns, 'FILLS'), streamName(ns, 'DEADLETTER'), streamName(ns, 'EVENTS'), recordsStreamName(ns)]) await jsm.streams.delete(s).catch(() => undefined);
  await nc.close();
  if (server !== null) await redisDown();
});

const reader = new Redis(REDIS, { retryStrategy: () => 100, maxRetriesPerRequest: 1 });
reader.on('error', () => undefined);
t.teardown(() => reader.disconnect());
const keysOf = () => pairs.flatMap((p) => [redisKey(prefix, 'risk', p.symbol), redisKey(prefix, 'top', p.symbol)]);
/** With an account: its risk and the risk host's checkpoint (written only when they change). */
const allKeys = () => [...keysOf(), redisKey(prefix, 'account', 'rx1'), redisKey(prefix, 'engine', `risk-host:${ns}`)];

t.test('Redis down 10 s: the engine runs on with bounded pending work; every key is back within 2 s of Redis returning', async (t) => {
  const stores = (await engine.persistence)!;
  const state = stores.redis!;
  const host = (await engine.riskHost)!;
  await eventually(() => pairs.every((p) => host.market(p.symbol)?.health === 'LIVE'), 20_000, 'books LIVE');
  await jetstream(nc).publish(fillsSubject(ns, 'rx1'), JSON.stringify({ fill_id: 'rx-1', account: 'rx1', symbol: 'BTC/USD', side: 'buy', price: '60000', qty: '0.01', fee: '0' }), { msgID: 'rx-1' });
  await eventually(async () => (await reader.exists(...allKeys())) === allKeys().length, 20_000, 'market, account and checkpoint keys written', 100);
  const risk = JSON.parse((await reader.get(redisKey(prefix, 'risk', 'BTC/USD')))!) as { symbol: string; seq: number };
  t.equal(risk.symbol, 'BTC/USD', 'instrument risk as JSON');
  t.ok((await reader.ttl(redisKey(prefix, 'risk', 'BTC/USD'))) > 0, 'market data keys carry a TTL');

  await redisDown();
  let updates = 0;
  const off = engine.feed.on('risk', (rs) => (updates += rs.length));
  const heap0 = process.memoryUsage().heapUsed;
  let maxPending = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < 10_000) {
    await new Promise((r) => setTimeout(r, 250));
    maxPending = Math.max(maxPending, state.pendingKeys);
  }
  off();
  const heapGrowthMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  t.ok(updates > 40, `risk kept flowing (${updates} updates in 10 s)`);
  t.ok(maxPending <= keysOf().length + 2, `pending work bounded by one value per key (max ${maxPending} pending for ${keysOf().length} market keys)`);
  t.ok(state.counters.coalesced > 0, `superseded values coalesced (${state.counters.coalesced})`);
  t.ok(heapGrowthMiB < 50, `heap growth ${heapGrowthMiB.toFixed(1)} MiB`);
  t.equal(state.connected, false);
  t.same(engine.health.report().degraded, ['redis'], 'readiness reports Redis as degraded, not failing');

  await redisUp(); // empty: the crash lost everything
  const back = Date.now();
  await eventually(async () => (await reader.exists(...allKeys())) === allKeys().length, 5_000, 'keys re-asserted', 20);
  const ms = Date.now() - back;
  t.ok(ms <= 2000, `every key (market, account, checkpoint) back ${ms} ms after Redis returned`);
  const account = JSON.parse((await reader.get(redisKey(prefix, 'account', 'rx1')))!) as { positions: { symbol: string; qty: number }[] };
  t.equal(account.positions[0]?.qty, 0.01, 'the account key carries its positions');
  t.ok(state.counters.reasserts >= 1, 're-asserted after reconnect');
});

t.test('market state restored from Redis is served STALE until a fresh book verifies', async (t) => {
  // A second engine on the same Redis keys whose venue is unreachable: what it serves comes
  // from Redis only.
  const dead = await freePort();
  const cfg = loadConfig({ env: {}, overrides: { port: 0, redisUrl: REDIS, redisPrefix: prefix, workers: 1, bookDepth: 10, logLevel: 'fatal', logSummaryMs: 0 } });
  const second = await startEngine(cfg, log, { krakenUrl: `ws://127.0.0.1:${dead}/v2`, symbols: pairs.map((p) => p.symbol), simulated: true });
  t.teardown(() => second.stop());
  await second.persistence;
  for (const p of pairs) {
    const r = second.supervisor.latest.get(p.symbol);
    t.equal(r?.health, 'STALE', `${p.symbol}: restored, marked STALE`);
    t.ok(typeof r?.mid === 'number', `${p.symbol}: with the last known figures`);
  }
  const port = second.gateway?.port;
  if (port !== undefined) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/risk/BTC-USD`);
    t.equal(((await res.json()) as { health: string }).health, 'STALE', 'REST serves it as STALE');
  }
});

t.test('checkpoints: saved to Redis and (as a state record) PostgreSQL; both copies are read back', async (t) => {
  const schema = `t_redis_${process.pid}`;
  const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 2 });
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });
  await migrate(pool, log, { schema, compressAfterDays: 7, retentionDays: 90 });
  const redis = new RedisState(REDIS, log);
  t.teardown(() => redis.stop());
  await eventually(() => redis.connected, 5000, 'redis connected');
  const cp = (fillSeq: number, state: string): Checkpoint => ({
    fillSeq,
    timeUs: Date.now() * 1000,
    limits: null,
    precisions: { 'BTC/USD': 8 },
    accounts: [{ account: 'a1', state: state as 'ACTIVE', stateReason: '', autoHalted: false, dayKey: 1, dayStartEquity: 0, highWater: 0, eventSeq: 0, positions: [], ledger: [] }],
  });
  const records: PersistRecord[] = [];
  const sink = { offer: (r: PersistRecord) => (records.push(r), true), store: async (r: PersistRecord) => void records.push(r) };
  const store = createCheckpointStore({ id: 'cp-test', redis, redisPrefix: 'cp:', pool, schema, sink, log });
  t.same(await store.load(), { postgresql: null, redis: null }, 'nothing yet');
  store.save(cp(10, 'HALTED'));
  store.save(cp(10, 'HALTED')); // unchanged: not written again
  t.equal(records.length, 1, 'one state record for one change');
  await redis.flush();
  await new PgWriter(pool, schema).write(records);
  const got = await store.load();
  t.equal(got.redis?.fillSeq, 10);
  t.equal(got.postgresql?.accounts[0]!.state, 'HALTED');
  // Redis lost (a crash without persistence): PostgreSQL's copy alone.
  await reader.del(redisKey('cp:', 'engine', 'cp-test'));
  const after = await store.load();
  t.same([after.redis, after.postgresql?.fillSeq], [null, 10]);
});
