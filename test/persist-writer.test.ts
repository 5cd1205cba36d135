/**
 * The database writer against the machine's real PostgreSQL and NATS/JetStream: migrations
 * (idempotent, two processes at once, the plain-PostgreSQL shape), COPY batches with a poison
 * record isolated, the JetStream path with retried publishes stored once, and a writer
 * process killed mid-batch and restarted (no loss, no duplicate).
 */
import t from 'tap';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { migrate, PgWriter } from '../engine/persist/index.js';
import { ensureRecordsStream, JetStreamWriter, RecordPublisher } from '../engine/persist/durable.js';
import { EmbeddedWriter } from '../engine/persist/embedded.js';
import type { PersistRecord, TradeRow } from '../engine/persist/records.js';
import { recordsStreamName } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';
import { memoryLogger } from './helpers/logger.js';
import { jsonLines, runCli, spawnCli } from './helpers/spawn-cli.js';

const DB = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `t_writer_${process.pid}`;
const ns = `t_writer_${process.pid}`;
const pool = new pg.Pool({ connectionString: DB, max: 6 });
const log = memoryLogger('fatal');
const opts = { schema, compressAfterDays: 7, retentionDays: 90 };

t.teardown(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  for (const s of ['a', 'b']) await pool.query(`DROP SCHEMA IF EXISTS ${schema}_${s} CASCADE`);
  await pool.end();
});

const count = async (sql: string): Promise<number> => Number((await pool.query<{ n: string }>(sql)).rows[0]!.n);

let tradeSeq = 0;
const t0 = Date.UTC(2026, 10, 26, 12) * 1000;
function trade(symbol = 'BTC/USD'): TradeRow {
  const i = ++tradeSeq;
  return { k: 'trade', symbol, tradeId: i, side: i % 2 === 0 ? 'buy' : 'sell', price: `${60000 + (i % 100)}.${i % 10}`, qty: `0.${String(i % 999 + 1).padStart(4, '0')}`, timeUs: t0 + i * 1000, recvUs: t0 + i * 1000 + 150 };
}

t.test('migrations: applied once, in order, safe when two processes run them at once', async (t) => {
  const s = `${schema}_a`;
  const env = { DATABASE_URL: DB, AETHER_DB_SCHEMA: s, AETHER_LOG_LEVEL: 'info' };
  const [a, b] = await Promise.all([runCli(['migrate'], env), runCli(['migrate'], env)]);
  t.equal(a.code, 0, 'first migrate exits 0');
  t.equal(b.code, 0, 'second migrate exits 0');
  const applied = [...jsonLines(a.stderr), ...jsonLines(b.stderr)].filter((l) => Array.isArray(l.applied) && typeof l.schema === 'string').map((l) => (l.applied as number[]).length);
  t.same(applied.sort(), [0, 2], 'one process applied both migrations, the other found nothing to do');
  const rows = (await pool.query(`SELECT version, name FROM ${s}.schema_migrations ORDER BY version`)).rows;
  t.same(rows.map((r) => r.version), [1, 2], 'each recorded once, in order');
  // A third run (and four concurrent in-process ones) change nothing.
  const again = await Promise.all([0, 1, 2, 3].map(async () => {
    const p = new pg.Pool({ connectionString: DB, max: 1 });
    try {
      return await migrate(p, log, { ...opts, schema: s });
    } finally {
      await p.end();
    }
  }));
  t.same(again.map((r) => r.applied.length), [0, 0, 0, 0]);
  t.equal(await count(`SELECT count(*) AS n FROM ${s}.schema_migrations`), 2);
});

t.test('plain PostgreSQL shape: detected, BRIN time indexes, OHLCV view answers the same query', async (t) => {
  const r = await migrate(pool, log, opts);
  const ext = await count(`SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'timescaledb'`);
  t.equal(r.flavor, ext > 0 ? 'timescaledb' : 'postgresql', 'flavor follows what the server offers');
  if (r.flavor === 'postgresql') {
    const brin = (await pool.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE '%USING brin%' ORDER BY 1`, [schema])).rows.map((x) => x.indexname);
    t.same(brin, ['account_snapshots_time_brin', 'book_snapshots_time_brin', 'risk_snapshots_time_brin', 'trades_time_brin']);
  }
  // The forced fallback on a fresh schema records its flavor.
  const b = await migrate(pool, log, { ...opts, schema: `${schema}_b`, forcePlain: true });
  t.equal(b.flavor, 'postgresql');
  t.equal((await pool.query(`SELECT value FROM ${schema}_b.schema_info WHERE key = 'flavor'`)).rows[0]!.value, 'postgresql');
  const w = new PgWriter(pool, schema);
  const base = Date.UTC(2026, 10, 26, 9, 30) * 1000;
  const trades: TradeRow[] = [
    { k: 'trade', symbol: 'OHLC/USD', tradeId: 1, side: 'buy', price: '100.10', qty: '1.5', timeUs: base + 1_000_000, recvUs: base + 1_000_100 },
    { k: 'trade', symbol: 'OHLC/USD', tradeId: 2, side: 'sell', price: '101.00', qty: '0.5', timeUs: base + 20_000_000, recvUs: base + 20_000_100 },
    { k: 'trade', symbol: 'OHLC/USD', tradeId: 3, side: 'buy', price: '99.95', qty: '2', timeUs: base + 40_000_000, recvUs: base + 40_000_100 },
    { k: 'trade', symbol: 'OHLC/USD', tradeId: 4, side: 'buy', price: '100.50', qty: '1', timeUs: base + 59_000_000, recvUs: base + 59_000_100 },
  ];
  await w.write(trades);
  const bar = (await pool.query(`SELECT open::text, high::text, low::text, close::text, volume::text, trades::int FROM ${schema}.ohlcv_1m WHERE symbol = 'OHLC/USD'`)).rows;
  t.same(bar, [{ open: '100.10', high: '101.00', low: '99.95', close: '100.50', volume: '5.0', trades: 4 }], 'exact decimals, one 1-minute bar');
});

t.test('a 10,000-record batch with one poison record: 9,999 rows and one dead letter; redelivery stores nothing twice', async (t) => {
  await migrate(pool, log, opts);
  const w = new PgWriter(pool, schema);
  const batch: unknown[] = [];
  for (let i = 0; i < 10_000; i++) batch.push(trade('POISON/USD'));
  // Passes validation, refused by PostgreSQL (a NUL byte in text): isolated by bisection.
  (batch[6789] as { symbol: string }).symbol = 'POI\u0000SON';
  const r = await w.write(batch);
  t.equal(r.stored, 9_999);
  t.equal(r.deadLettered, 1);
  t.ok(r.transactions <= 2 * Math.ceil(Math.log2(10_000)) + 1, `isolated in ${r.transactions} transactions`);
  t.equal(await count(`SELECT count(*) AS n FROM ${schema}.trades WHERE symbol = 'POISON/USD'`), 9_999);
  const dl = (await pool.query(`SELECT kind, sqlstate, reason FROM ${schema}.dead_letters`)).rows;
  t.equal(dl.length, 1);
  t.equal(dl[0]!.kind, 'trade');
  t.equal(dl[0]!.sqlstate, '22021', 'the database reason is kept');
  // An invalid record is caught before COPY (no bisection needed).
  const bad = [trade('POISON/USD'), { k: 'trade', symbol: 'X/USD', tradeId: 1, side: 'buy', price: 'abc', qty: '1', timeUs: t0, recvUs: t0 }, { k: 'nonsense' }];
  const r2 = await w.write(bad);
  t.same([r2.stored, r2.deadLettered, r2.transactions], [1, 2, 1]);
  // The whole batch delivered again (a writer that died before its ack): no duplicates.
  const r3 = await w.write(batch);
  t.equal(r3.stored, 9_999, 'the statements ran');
  t.equal(await count(`SELECT count(*) AS n FROM ${schema}.trades WHERE symbol = 'POISON/USD'`), 10_000, '9,999 + 1, nothing twice');
  t.equal(await count(`SELECT count(*) AS n FROM ${schema}.dead_letters`), 3, 'the same poison is dead-lettered once');
});

t.test('every record kind lands in its table, exactly', async (t) => {
  await migrate(pool, log, opts);
  const w = new PgWriter(pool, schema);
  const now = t0 + 5_000_000_000;
  const records: PersistRecord[] = [
    { k: 'fill', fillId: 'F-1', account: 'acct1', symbol: 'BTC/USD', side: 'buy', price: '60000.1', qty: '0.12345678', fee: '-0.5', orderId: 'o-1', streamSeq: 7, timeUs: now },
    { k: 'position', account: 'acct1', symbol: 'BTC/USD', fillId: 'F-1', timeUs: now, qty: '0.12345678', avgEntry: 60000.1, realizedPnl: 0.5, feesPaid: -0.5 },
    { k: 'event', eventId: 'acct1:1:1', account: 'acct1', from: 'ACTIVE', to: 'HALTED', reason: 'manual: test', manual: true, timeUs: now },
    { k: 'gap', symbol: 'BTC/USD', reason: 'RESYNCING', startUs: now - 2_000_000, endUs: now },
    { k: 'book', symbol: 'BTC/USD', health: 'LIVE', timeUs: now, bids: [['60000.0', '1.5'], ['59999.9', '0.25']], asks: [['60000.1', '0.75']] },
    { k: 'risk', symbol: 'BTC/USD', health: 'LIVE', seq: 42, timeUs: now, mid: 60000.05, spreadBps: 0.0166, volAnnual: null, imbalance: 0.33, record: { symbol: 'BTC/USD', seq: 42 } },
    { k: 'account', account: 'acct1', state: 'HALTED', timeUs: now, equity: 12.5, grossExposure: 7407.4, netExposure: 7407.4, var99: 120, record: { account: 'acct1' } },
    { k: 'state', id: 'rh', fillSeq: 7, timeUs: now, state: { fillSeq: 7 } },
    { k: 'state', id: 'rh', fillSeq: 5, timeUs: now + 1, state: { fillSeq: 5 } },
  ];
  const r = await w.write(records);
  t.same([r.stored, r.deadLettered], [records.length, 0]);
  const q1 = async (sql: string) => (await pool.query(sql)).rows[0] as Record<string, unknown>;
  t.same(await q1(`SELECT qty::text, price::text, fee::text, stream_seq::int FROM ${schema}.fills`), { qty: '0.12345678', price: '60000.1', fee: '-0.5', stream_seq: 7 });
  t.same(await q1(`SELECT bid_prices::text[] AS b, ask_qtys::text[] AS a FROM ${schema}.book_snapshots`), { b: ['60000.0', '59999.9'], a: ['0.75'] }, 'levels as exact arrays');
  t.same(await q1(`SELECT to_state, manual FROM ${schema}.risk_events`), { to_state: 'HALTED', manual: true });
  t.same(await q1(`SELECT extract(epoch FROM end_time - start_time)::int AS s FROM ${schema}.feed_gaps`), { s: 2 });
  t.same(await q1(`SELECT fill_seq::int FROM ${schema}.engine_state WHERE id = 'rh'`), { fill_seq: 7 }, 'an older checkpoint never overwrites a newer one');
  t.same(await q1(`SELECT to_char(time AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS t FROM ${schema}.risk_snapshots`), { t: new Date(now / 1000).toISOString().slice(11, 19) + '.000000' }, 'µs timestamps');
});

t.test('embedded queue: snapshots thinned past half, records dropped past the bound, all counted', async (t) => {
  // A writer whose database is unreachable: nothing drains, the policy shows.
  const dead = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 200 });
  dead.on('error', () => undefined);
  const q = new EmbeddedWriter(new PgWriter(dead, schema), log, 100, 50);
  const snap = (i: number): PersistRecord => ({ k: 'risk', symbol: 'S/USD', health: 'LIVE', seq: i, timeUs: t0 + i, mid: 1, spreadBps: 1, volAnnual: null, imbalance: 0, record: {} });
  let accepted = 0;
  for (let i = 0; i < 50; i++) accepted += q.offer(trade('Q/USD')) ? 1 : 0;
  t.notOk(q.offer(snap(1)), 'a snapshot is thinned at half full');
  for (let i = 0; i < 50; i++) accepted += q.offer(trade('Q/USD')) ? 1 : 0;
  t.equal(accepted, 100, 'other records still queue up to the bound');
  t.notOk(q.offer(trade('Q/USD')), 'full: dropped');
  t.same([q.counters.thinned, q.counters.dropped, q.depth], [1, 1, 100]);
  q.start();
  await new Promise((r) => setTimeout(r, 300));
  t.equal(q.depth, 100, 'kept while the database is down');
  await q.stop(200);
  t.equal(q.counters.dropped, 101, 'what could not be written by the stop deadline is counted');
  await dead.end();
});

t.test('JetStream path: retried publishes and redeliveries are stored once; a writer killed mid-batch loses nothing', async (t) => {
  await migrate(pool, log, opts);
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  t.teardown(async () => {
    await jsm.streams.delete(recordsStreamName(ns)).catch(() => undefined);
    await nc.close();
  });
  await ensureRecordsStream(nc, ns, { maxBytes: 256 * 1024 * 1024, maxAgeHours: 1 });
  const pub = new RecordPublisher(nc, ns, log, 100_000, 512);
  const N = 30_000;
  const sent: TradeRow[] = [];
  for (let i = 0; i < N; i++) sent.push(trade('JS/USD'));
  for (const r of sent) pub.offer(r);
  for (const r of sent.slice(0, 1000)) pub.offer(r); // the same records again (a producer's retry)
  t.ok(await pub.drain(30_000), 'all published');
  const info = await jsm.streams.info(recordsStreamName(ns));
  t.ok(info.state.messages <= Math.ceil((N + 1000) / 10), `records travel packed (${info.state.messages} messages for ${N + 1000} records)`);
  t.equal(pub.counters.published, N + 1000);

  // A writer process, killed with SIGKILL while it is storing, then started again.
  const env = { DATABASE_URL: DB, NATS_URL: 'nats://127.0.0.1:4222', AETHER_NATS_NAMESPACE: ns, AETHER_DB_SCHEMA: schema, AETHER_WRITER_BATCH: '2000', AETHER_WRITER_ACK_WAIT_MS: '2000', AETHER_LOG_LEVEL: 'info' };
  const w1 = spawnCli(['writer'], env);
  t.teardown(() => void w1.kill('SIGKILL')); // whatever happens to the test, no writer outlives it
  await eventually(async () => (await count(`SELECT count(*) AS n FROM ${schema}.trades WHERE symbol = 'JS/USD'`)) > 0, 30_000, 'first batches stored');
  w1.kill('SIGKILL');
  await w1.exited;
  const partial = await count(`SELECT count(*) AS n FROM ${schema}.trades WHERE symbol = 'JS/USD'`);
  t.ok(partial < N, `killed mid-stream (${partial} of ${N} stored)`);
  // Records published while no writer runs wait in the stream.
  const more: TradeRow[] = [];
  for (let i = 0; i < 5000; i++) more.push(trade('JS/USD'));
  for (const r of more) pub.offer(r);
  t.ok(await pub.drain(30_000));
  // Two replicas share the durable consumer from here on.
  const w2 = spawnCli(['writer'], env);
  t.teardown(() => void w2.kill('SIGKILL'));
  const inProc = new JetStreamWriter({ nc, ns, writer: new PgWriter(pool, schema), log, batchMax: 1000, ackWaitMs: 2000 });
  await inProc.start();
  t.teardown(() => inProc.stop());
  await eventually(async () => (await count(`SELECT count(*) AS n FROM ${schema}.trades WHERE symbol = 'JS/USD'`)) === N + 5000, 60_000, 'every record stored');
  await new Promise((r) => setTimeout(r, 2500)); // past the ack wait: any redelivery would have landed
  t.equal(await count(`SELECT count(*) AS n FROM ${schema}.trades WHERE symbol = 'JS/USD'`), N + 5000, 'no loss, no duplicate (the 1,000 records sent twice are stored once)');
  const ids = await count(`SELECT count(DISTINCT trade_id) AS n FROM ${schema}.trades WHERE symbol = 'JS/USD'`);
  t.equal(ids, N + 5000);
  t.ok(inProc.counters.stored > 0, 'the in-process replica took batches too');
  w2.kill('SIGTERM');
  t.equal(await w2.exited, 0, 'the writer stops cleanly on SIGTERM');
  pub.stop();
});

t.test('JetStream path: a poison record is dead-lettered and acknowledged; the rest of its batch lands; the work queue empties', async (t) => {
  await migrate(pool, log, opts);
  const pns = `${ns}_p`;
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  t.teardown(async () => {
    await jsm.streams.delete(recordsStreamName(pns)).catch(() => undefined);
    await nc.close();
  });
  await ensureRecordsStream(nc, pns, { maxBytes: 64 * 1024 * 1024, maxAgeHours: 1 });
  const pub = new RecordPublisher(nc, pns, log);
  const recs = Array.from({ length: 2000 }, () => trade('JSP/USD'));
  (recs[1234] as { symbol: string }).symbol = 'JSP\u0000BAD';
  for (const r of recs) pub.offer(r);
  t.ok(await pub.drain(10_000));
  const before = await count(`SELECT count(*) AS n FROM ${schema}.dead_letters`);
  const w = new JetStreamWriter({ nc, ns: pns, writer: new PgWriter(pool, schema), log, batchMax: 5000, ackWaitMs: 5000 });
  await w.start();
  t.teardown(() => w.stop());
  await eventually(async () => (await count(`SELECT count(*) AS n FROM ${schema}.trades WHERE symbol = 'JSP/USD'`)) === 1999, 20_000, '1,999 rows', 100);
  await eventually(async () => (await jsm.streams.info(recordsStreamName(pns))).state.messages === 0, 10_000, 'every message acknowledged (the work queue is empty)', 100);
  t.equal((await count(`SELECT count(*) AS n FROM ${schema}.dead_letters`)) - before, 1, 'one dead letter');
  t.equal(w.counters.deadLettered, 1);
  pub.stop();
});

t.test('embedded default (no NATS): the engine writes trades, gaps and snapshots through the in-process queue', async (t) => {
  const { defaultSimPairs, startSimExchange } = await import('../adapters/kraken-sim/index.js');
  const { loadConfig } = await import('../engine/config.js');
  const { startEngine } = await import('../engine/runtime.js');
  const s = `${schema}_e`;
  t.teardown(() => pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`));
  const pairs = defaultSimPairs(2);
  const sim = await startSimExchange({ pairs, bookRatePerSymbol: 50, tradeRatio: 1, seed: 3 });
  const config = loadConfig({ env: {}, overrides: { port: 0, databaseUrl: DB, dbSchema: s, workers: 1, bookDepth: 10, logLevel: 'fatal', logSummaryMs: 0, snapshotIntervalMs: 200 } });
  const engine = await startEngine(config, log, { krakenUrl: sim.url, symbols: pairs.map((p) => p.symbol), simulated: true });
  const seen: string[] = [];
  engine.feed.on('trades', (ts) => seen.push(...ts.map((x) => `${x.symbol}:${x.tradeId}`)));
  const stores = (await engine.persistence)!;
  t.equal(stores.status().mode, 'embedded');
  await eventually(async () => (await count(`SELECT count(*) AS n FROM ${s}.trades`)) > 50, 20_000, 'trades stored', 100);
  await eventually(async () => (await count(`SELECT count(*) AS n FROM ${s}.book_snapshots`)) > 2, 10_000, 'book snapshots stored', 100);
  // A worker crash is a feed gap for its instruments, from their last record to LIVE again.
  engine.supervisor.send(0, { type: 'crash' });
  // Until the new worker has them LIVE, its instruments are STALE everywhere: the latest
  // records (streams, snapshots) and the market board (pre-trade checks).
  const { BoardBook } = await import('../engine/market-board.js');
  const view = new BoardBook();
  await eventually(
    () => pairs.every((p) => engine.supervisor.latest.get(p.symbol)?.health === 'STALE' && engine.supervisor.board.read(engine.supervisor.slotOf[p.symbol]!, view) && view.health === 'STALE' && view.bidCount === 0),
    5_000,
    'crashed worker\'s instruments marked STALE',
    5,
  );
  t.pass('a crashed worker\'s instruments are STALE on the board and in the latest records');
  await eventually(async () => (await count(`SELECT count(*) AS n FROM ${s}.feed_gaps WHERE reason = 'worker restart'`)) === pairs.length, 20_000, 'worker-restart gaps stored', 100);
  t.pass('a crashed worker left one gap per instrument');
  await engine.stop(); // drains the queue
  await sim.close();
  const rows = (await pool.query<{ k: string }>(`SELECT symbol || ':' || trade_id AS k FROM ${s}.trades`)).rows.map((r) => r.k);
  t.equal(new Set(rows).size, rows.length, 'no duplicates');
  t.same([...new Set(seen)].filter((k) => !rows.includes(k)), [], 'every trade the engine saw was stored by the time it stopped');
  t.ok((await count(`SELECT count(*) AS n FROM ${s}.risk_snapshots`)) > 2, 'risk snapshots stored');
  t.equal(stores.status().counters['queue.dropped'], 0, 'nothing dropped');
});
