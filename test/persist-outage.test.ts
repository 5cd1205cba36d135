/**
 * PostgreSQL stopped for 10 s (pg_ctlcluster) in the middle of a simulated run at about
 * 5,000 records/s, then started again: every trade and fill of the run ends up in the
 * database exactly once, and the engine never stops producing risk meanwhile.
 *
 * The outage is real, so it runs against a PostgreSQL cluster of its own (pg_createcluster on
 * a free port), not the shared one other test files use at the same time.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { loadConfig } from '../engine/config.js';
import type { TradeRecord } from '../engine/feed.js';
import { startEngine } from '../engine/runtime.js';
import { fillsSubject, recordsStreamName, streamName } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';
import { memoryLogger } from './helpers/logger.js';
import { freePort } from './helpers/net.js';

const VERSION = execFileSync('ls', ['/etc/postgresql']).toString().trim().split('\n')[0]!;
const cluster = `aether_outage_${process.pid}`;
// A cluster left behind by a run that was killed before its teardown: drop it.
for (const line of execFileSync('pg_lsclusters', ['-h']).toString().split('\n')) {
  const name = line.split(/\s+/)[1] ?? '';
  const pid = Number(/^aether_outage_(\d+)$/.exec(name)?.[1] ?? NaN);
  if (Number.isInteger(pid) && !isAlive(pid)) execFileSync('pg_dropcluster', ['--stop', VERSION, name], { stdio: 'ignore' });
}
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
const port = await freePort();
execFileSync('pg_createcluster', [VERSION, cluster, '-p', String(port), '--start', '--', '--auth-host=trust', '--auth-local=trust'], { stdio: 'ignore' });
const ctl = (action: 'start' | 'stop') => execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', VERSION, cluster, action, ...(action === 'stop' ? ['-m', 'fast'] : [])], { stdio: 'ignore' });
const DB = `postgres://postgres@127.0.0.1:${port}/postgres`;
const ns = `t_pgout_${process.pid}`;

const pairs = defaultSimPairs(8);
const sim = await startSimExchange({ pairs, bookRatePerSymbol: 150, tradeRatio: 5, seed: 77 });
const config = loadConfig({
  env: {},
  overrides: { port: 0, recordsMaxBytes: 256 * 1024 * 1024, natsUrl: 'nats://127.0.0.1:4222', natsNamespace: ns, databaseUrl: DB, dbSchema: 'aether', workers: 1, bookDepth: 10, logLevel: 'fatal', logSummaryMs: 0, writerAckWaitMs: 5000 },
});
const engine = await startEngine(config, memoryLogger('fatal'), { krakenUrl: sim.url, symbols: pairs.map((p) => p.symbol), simulated: true });
const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
const js = jetstream(nc);

t.teardown(async () => {
  await engine.stop();
  await sim.close();
  const jsm = await jetstreamManager(nc);
  for (const s of [streamName(ns, 'FILLS'), streamName(ns, 'DEADLETTER'), streamName(ns, 'EVENTS'), recordsStreamName(ns)]) await jsm.streams.delete(s).catch(() => undefined);
  await nc.close();
  execFileSync('pg_dropcluster', ['--stop', VERSION, cluster], { stdio: 'ignore' });
});

t.test('PostgreSQL down for 10 s at ~5,000 records/s: afterwards every trade and fill is stored exactly once', async (t) => {
  const host = (await engine.riskHost)!;
  const stores = (await engine.persistence)!;
  t.equal(stores.status().mode, 'jetstream');
  await eventually(() => pairs.every((p) => host.market(p.symbol)?.health === 'LIVE'), 20_000, 'books LIVE');

  const trades = new Map<string, TradeRecord>();
  let riskUpdates = 0;
  const offTrades = engine.feed.on('trades', (ts) => {
    for (const x of ts) trades.set(`${x.symbol}:${x.tradeId}`, x);
  });
  engine.feed.on('risk', (rs) => (riskUpdates += rs.length));

  // Fills from a trading system, 350/s, throughout the run.
  const fillIds: string[] = [];
  let n = 0;
  const fills = setInterval(() => {
    for (let k = 0; k < 35; k++) {
      const i = ++n;
      const id = `pgout-${i}`;
      fillIds.push(id);
      const symbol = pairs[i % pairs.length]!.symbol;
      void js.publish(fillsSubject(ns, 'pgout'), JSON.stringify({ fill_id: id, account: 'pgout', symbol, side: i % 2 === 0 ? 'buy' : 'sell', price: '100', qty: '1', fee: '0.01' }), { msgID: id });
    }
  }, 100);

  const t0 = Date.now();
  const published0 = stores.status().counters['publish.published'] ?? 0;
  await new Promise((r) => setTimeout(r, 5000));
  const before = trades.size;
  ctl('stop');
  const stoppedAt = Date.now();
  const riskAtStop = riskUpdates;
  await new Promise((r) => setTimeout(r, 10_000));
  t.ok(riskUpdates > riskAtStop, `risk kept flowing during the outage (${riskUpdates - riskAtStop} updates)`);
  t.equal(stores.status().database.ok, false, 'the outage is visible in the status');
  const readiness = engine.health.report();
  t.same(readiness.degraded, ['postgres'], 'readiness reports the database as degraded');
  t.equal(readiness.ready, true, 'and the engine stays ready: it keeps serving risk');
  const jsm = await jetstreamManager(nc);
  const waiting = (await jsm.streams.info(recordsStreamName(ns))).state.messages;
  ctl('start');
  const outageMs = Date.now() - stoppedAt;
  await new Promise((r) => setTimeout(r, 3000));
  clearInterval(fills);
  offTrades(); // the trades of the run: from here on the set is fixed
  const runMs = Date.now() - t0;
  const recordRate = (trades.size + fillIds.length * 2) / (runMs / 1000);
  const publishedRate = ((stores.status().counters['publish.published'] ?? 0) - published0) / (runMs / 1000);
  t.ok(publishedRate >= 5000, `the run produced ${publishedRate.toFixed(0)} records/s into JetStream (≥ 5,000)`);
  t.comment(`run ${runMs} ms, outage ${outageMs} ms, ${trades.size} trades (${before} before the outage) + ${fillIds.length} fills (×2 records with positions) ≈ ${recordRate.toFixed(0)} records/s besides snapshots; ${waiting} records waited in JetStream`);
  t.ok(waiting > 0, 'records waited in JetStream while PostgreSQL was down');

  const pool = new pg.Pool({ connectionString: DB, max: 2 });
  t.teardown(() => pool.end());
  const q = async (sql: string) => Number((await pool.query<{ n: string }>(sql)).rows[0]!.n);
  await eventually(async () => (await q(`SELECT count(*) AS n FROM aether.fills WHERE account = 'pgout'`)) >= fillIds.length, 60_000, 'every fill stored', 250);
  const expectTrades = [...trades.values()];
  const keysInDb = async () => new Set((await pool.query<{ k: string }>(`SELECT symbol || ':' || trade_id AS k FROM aether.trades`)).rows.map((r) => r.k));
  await eventually(async () => {
    const have = await keysInDb();
    return expectTrades.every((x) => have.has(`${x.symbol}:${x.tradeId}`));
  }, 60_000, 'every trade of the run stored', 500);
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(await q(`SELECT count(*) AS n FROM aether.fills WHERE account = 'pgout'`), fillIds.length, 'fills: all, once');
  t.equal(await q(`SELECT count(DISTINCT fill_id) AS n FROM aether.fills WHERE account = 'pgout'`), fillIds.length);
  t.equal(await q(`SELECT count(*) AS n FROM aether.positions WHERE account = 'pgout'`), fillIds.length, 'one position row per fill');
  const stored = await q('SELECT count(*) AS n FROM aether.trades');
  t.ok(stored >= expectTrades.length, 'trades: all');
  // Exactly the trades the engine saw: compare the full sets.
  const rows = (await pool.query<{ k: string; price: string; qty: string }>(`SELECT symbol || ':' || trade_id AS k, price::text AS price, qty::text AS qty FROM aether.trades`)).rows;
  const inDb = new Map(rows.map((r) => [r.k, r]));
  t.equal(inDb.size, rows.length, 'no trade twice');
  const missing = expectTrades.filter((x) => !inDb.has(`${x.symbol}:${x.tradeId}`));
  t.equal(missing.length, 0, 'no trade missing');
  const wrong = expectTrades.filter((x) => {
    const r = inDb.get(`${x.symbol}:${x.tradeId}`);
    return r !== undefined && (Number(r.price) !== Number(x.price) || Number(r.qty) !== Number(x.qty));
  });
  t.equal(wrong.length, 0, 'prices and quantities exact');
  t.ok((await q('SELECT count(*) AS n FROM aether.risk_snapshots')) > 0, 'periodic risk snapshots stored');
  t.ok((await q('SELECT count(*) AS n FROM aether.book_snapshots')) > 0, 'periodic book snapshots stored');
  t.equal(await q('SELECT count(*) AS n FROM aether.dead_letters'), 0, 'nothing dead-lettered');
});
