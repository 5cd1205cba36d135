/**
 * Exact warm restart: the engine process is killed with SIGKILL while fills stream in, then
 * started again. Positions and trading states afterwards equal an independent replay of every
 * fill published; the market state comes back from Redis marked STALE until fresh books
 * verify, and the restart is recorded as a feed gap.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Position, parseFill, isFillError } from '../actors/position.js';
import { adminSubject, fillsSubject, recordsStreamName, redisKey, streamName } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';
import { jsonLines, spawnCli } from './helpers/spawn-cli.js';

const ns = `t_restart_${process.pid}`;
const schema = `t_restart_${process.pid}`;
const prefix = `t_restart_${process.pid}:`;
const DB = 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = 'restart-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'aether-restart-'));
const limitsFile = join(dir, 'limits.json');
writeFileSync(limitsFile, JSON.stringify({ accounts: { wr2: { maxDailyLoss: 50 } } }));
const env = {
  NATS_URL: 'nats://127.0.0.1:4222',
  AETHER_NATS_NAMESPACE: ns,
  DATABASE_URL: DB,
  AETHER_DB_SCHEMA: schema,
  REDIS_URL: 'redis://127.0.0.1:6379',
  AETHER_REDIS_PREFIX: prefix,
  AETHER_LIMITS_FILE: limitsFile,
  AETHER_ADMIN_TOKEN: TOKEN,
  AETHER_SIM_SYMBOLS: '3',
  PORT: '0',
  AETHER_RECORDS_MAX_BYTES: String(256 * 1024 * 1024),
  AETHER_SIM_RATE: '20',
  AETHER_WORKERS: '1',
  AETHER_SNAPSHOT_INTERVAL_MS: '200',
  AETHER_LOG_LEVEL: 'info',
  AETHER_LOG_SUMMARY_MS: '0',
};
const SYMBOLS = ['BTC/USD', 'ETH/USD', 'SOL/USD'];

const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
const js = jetstream(nc);
const pool = new pg.Pool({ connectionString: DB, max: 2 });
const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: false });
const children: ReturnType<typeof spawnCli>[] = [];

t.teardown(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  const jsm = await jetstreamManager(nc);
  for (const s of [streamName(ns, 'FILLS'), streamName(ns, 'DEADLETTER'), streamName(ns, 'EVENTS'), recordsStreamName(ns)]) await jsm.streams.delete(s).catch(() => undefined);
  await nc.close();
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

function startEngine(): ReturnType<typeof spawnCli> {
  const c = spawnCli(['demo'], env);
  children.push(c);
  return c;
}
const logs = (c: ReturnType<typeof spawnCli>) => jsonLines(c.err + c.out);
const request = async (subject: string, body: unknown) => JSON.parse((await nc.request(subject, JSON.stringify(body), { timeout: 5000 })).string()) as Record<string, unknown>;

// The reference: every fill published, replayed independently through the position actor.
const published: Record<string, string>[] = [];
let n = 0;
function nextFill(): Record<string, string> {
  const i = ++n;
  const account = i % 3 === 0 ? 'wr2' : 'wr1';
  if (account === 'wr2') {
    // Buy then sell one unit at the same price, a fee each time: a pure fee loss that reaches
    // the daily-loss limit (50) while flat, whatever the market does.
    return { fill_id: `wr-${i}`, account, symbol: 'ETH/USD', side: (i / 3) % 2 === 1 ? 'buy' : 'sell', price: '3000', qty: '1', fee: '1.5' };
  }
  const symbol = SYMBOLS[i % SYMBOLS.length]!;
  const px = symbol === 'BTC/USD' ? 60000 + (i % 97) : symbol === 'ETH/USD' ? 3000 + (i % 13) : 150 + (i % 7) / 10;
  return { fill_id: `wr-${i}`, account, symbol, side: i % 5 < 3 ? 'buy' : 'sell', price: String(px), qty: `0.${String((i * 7919) % 1000).padStart(3, '0')}1`, fee: '0.25' };
}
async function publish(count: number): Promise<void> {
  for (let k = 0; k < count; k++) {
    const f = nextFill();
    published.push(f);
    await js.publish(fillsSubject(ns, f.account!), JSON.stringify(f), { msgID: f.fill_id });
  }
}
function reference(): Map<string, Map<string, Position>> {
  const out = new Map<string, Map<string, Position>>();
  for (const m of published) {
    const f = parseFill(m, () => 8);
    if (isFillError(f)) throw new Error(f.detail);
    let acct = out.get(f.account);
    if (acct === undefined) out.set(f.account, (acct = new Map()));
    let p = acct.get(f.symbol);
    if (p === undefined) acct.set(f.symbol, (p = new Position(f.symbol, 8)));
    p.apply(f);
  }
  return out;
}

t.test('kill -9 mid-stream, restart: positions and trading states equal a replay of all fills', async (t) => {
  const e1 = startEngine();
  await eventually(() => logs(e1).some((l) => String(l.msg).startsWith('risk host started')), 60_000, 'first engine ready');
  await eventually(() => logs(e1).some((l) => String(l.msg).includes('persistence: records → JetStream')), 10_000, 'persistence on');
  await eventually(
    async () => (await Promise.all(SYMBOLS.map(async (sym) => JSON.parse((await redis.get(redisKey(prefix, 'top', sym))) ?? '{}') as { health?: string }))).every((x) => x.health === 'LIVE'),
    30_000,
    'books LIVE (seen through Redis)',
    100,
  );
  await publish(150);
  const halt = await request(adminSubject(ns, 'halt'), { account: 'wr3', reason: 'desk closed', token: TOKEN });
  t.equal(halt.ok, true, 'manual halt of wr3');
  // Let a checkpoint or two happen, then keep fills coming and kill the engine in the middle.
  await new Promise((r) => setTimeout(r, 1000));
  const burst = publish(300);
  await new Promise((r) => setTimeout(r, 150));
  e1.kill('SIGKILL');
  await burst; // these land in JetStream while no engine runs
  await e1.exited;
  t.ok(logs(e1).some((l) => String(l.msg).startsWith('warm restart: no checkpoint')), 'the first engine started cold');

  const e2 = startEngine();
  const restoredLine = (l: Record<string, unknown>) => String(l.msg).startsWith('warm restart:') && l.checkpointSeq !== undefined;
  await eventually(() => logs(e2).find(restoredLine), 60_000, 'second engine restored');
  const restart = logs(e2).find(restoredLine)!;
  t.comment(String(restart.msg));
  t.match(String(restart.source), /^(redis \(checked against PostgreSQL\)|postgresql)$/, `restored from a checkpoint (${String(restart.source)})`);
  t.ok((restart.checkpointSeq as number) > 0, 'the checkpoint carries a fill sequence');
  t.ok(logs(e2).some((l) => String(l.msg).startsWith('market state restored from Redis')), 'market state restored from Redis');
  await publish(100); // and fills keep coming after the restart

  const expected = reference();
  const check = async () => {
    for (const [account, syms] of expected) {
      const r = await request(adminSubject(ns, 'positions'), { account });
      if (r.known !== true) return false;
      const got = new Map((r.positions as { symbol: string; qty: number; avgEntry: number; realizedPnl: number }[]).map((p) => [p.symbol, p]));
      for (const [symbol, p] of syms) {
        const g = got.get(symbol);
        if (g === undefined || g.qty !== p.qty || g.avgEntry !== p.avgEntry || g.realizedPnl !== p.realizedPnl) return false;
      }
    }
    return true;
  };
  await eventually(check, 30_000, 'positions equal to the replay of every fill', 250);
  for (const [account, syms] of expected) {
    const r = await request(adminSubject(ns, 'positions'), { account });
    const got = new Map((r.positions as { symbol: string; qty: number; avgEntry: number; realizedPnl: number }[]).map((p) => [p.symbol, p]));
    for (const [symbol, p] of syms) {
      t.same({ qty: got.get(symbol)?.qty, avgEntry: got.get(symbol)?.avgEntry, realizedPnl: got.get(symbol)?.realizedPnl }, { qty: p.qty, avgEntry: p.avgEntry, realizedPnl: p.realizedPnl }, `${account} ${symbol} exact`);
    }
  }
  const states = Object.fromEntries(await Promise.all(['wr1', 'wr2', 'wr3'].map(async (a) => [a, String((await request(adminSubject(ns, 'positions'), { account: a })).state)])));
  t.same(states, { wr1: 'ACTIVE', wr2: 'HALTED', wr3: 'HALTED' }, 'trading states: the daily-loss halt and the manual halt survive the restart');
  const wr2 = await request(adminSubject(ns, 'positions'), { account: 'wr2' });
  t.match(String(wr2.stateReason), /daily loss/, 'wr2 halted by its daily-loss limit');

  // Fills in PostgreSQL: each exactly once, each with its position row, even those whose
  // records were in flight when the first engine was killed.
  const q = async (sql: string) => Number((await pool.query<{ n: string }>(sql)).rows[0]!.n);
  await eventually(async () => (await q(`SELECT count(*) AS n FROM ${schema}.positions`)) >= published.length, 30_000, 'fills and positions stored', 250);
  t.equal(await q(`SELECT count(*) AS n FROM ${schema}.fills`), published.length, 'every fill stored once');
  t.equal(await q(`SELECT count(*) AS n FROM ${schema}.positions`), published.length, 'every position change stored once');
  // The position rows replay to the same final positions.
  const last = (await pool.query<{ account: string; symbol: string; qty: string }>(`SELECT DISTINCT ON (p.account, p.symbol) p.account, p.symbol, p.qty::text AS qty FROM ${schema}.positions p JOIN ${schema}.fills f USING (fill_id) ORDER BY p.account, p.symbol, f.stream_seq DESC`)).rows;
  for (const r of last) t.equal(Number(r.qty), expected.get(r.account)!.get(r.symbol)!.qty, `last stored position ${r.account} ${r.symbol}`);
  const events = (await pool.query<{ account: string; to_state: string }>(`SELECT account, to_state FROM ${schema}.risk_events ORDER BY time`)).rows;
  t.same(events.filter((e) => e.account === 'wr3').map((e) => e.to_state), ['HALTED'], 'the manual halt stored once');
  t.same(events.filter((e) => e.account === 'wr2').map((e) => e.to_state), ['HALTED'], 'the daily-loss halt stored once, even though its fills were replayed');
  // The restart is a feed gap once the books verify again.
  await eventually(async () => (await q(`SELECT count(*) AS n FROM ${schema}.feed_gaps WHERE reason = 'restart'`)) >= SYMBOLS.length, 30_000, 'restart gaps recorded', 250);
  t.pass('each instrument restored from Redis recorded a restart gap');
  t.ok(await redis.exists(redisKey(prefix, 'engine', `risk-host:${ns}`)), 'checkpoint in Redis');

  e2.kill('SIGTERM');
  t.equal(await e2.exited, 0, 'clean stop');

  // A Redis checkpoint that does not agree with PostgreSQL's (here: tampered positions, newer
  // by time) is not trusted: PostgreSQL wins, and the positions stay exact.
  const key = redisKey(prefix, 'engine', `risk-host:${ns}`);
  await eventually(async () => (await pool.query(`SELECT 1 FROM ${schema}.engine_state`)).rows.length > 0, 10_000, 'checkpoint in PostgreSQL', 100);
  const cp = JSON.parse((await redis.get(key))!) as { timeUs: number; accounts: { account: string; positions: { lots: number }[] }[] };
  cp.timeUs += 60_000_000;
  cp.accounts.find((a) => a.account === 'wr1')!.positions[0]!.lots += 1;
  await redis.set(key, JSON.stringify(cp));
  const e3 = startEngine();
  const restored3 = restoredLine;
  await eventually(() => logs(e3).find(restored3), 60_000, 'third engine restored');
  t.ok(logs(e3).some((l) => String(l.msg).includes('disagrees with PostgreSQL: PostgreSQL wins')), 'the disagreement is logged');
  t.equal(logs(e3).find(restored3)!.source, 'postgresql', 'restored from PostgreSQL');
  await eventually(check, 30_000, 'positions still equal to the replay of every fill', 250);
  t.pass('positions exact after the tampered Redis checkpoint was refused');
  e3.kill('SIGTERM');
  t.equal(await e3.exited, 0);
});
