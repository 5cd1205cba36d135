/**
 * Persistence, composed: what the engine keeps and where it goes (docs/persistence.md).
 *
 *  - The recorder turns the in-process feed into records: trades, feed gaps, trading-state
 *    events, and every `snapshotIntervalMs` a book snapshot (top N levels from the market
 *    board), an instrument-risk snapshot and an account-risk snapshot (only changed ones).
 *  - Records go to the JetStream RECORDS stream when NATS is configured (the durable path),
 *    else to the in-process bounded queue (development).
 *  - A writer moves them into PostgreSQL: in the engine process (default), and/or as separate
 *    `aether-risk writer` processes sharing the durable consumer.
 *  - Redis gets the latest state per instrument and account, coalesced.
 *  - The risk host checkpoints accounts for an exact warm restart (checkpoint.ts).
 */
import pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import type { MarketRisk } from '../../actors/risk.js';
import { BookHealth } from '../../actors/risk.js';
import type { Config } from '../config.js';
import type { EngineFeed } from '../feed.js';
import type { Logger } from '../logger.js';
import { BoardBook, type MarketBoard } from '../market-board.js';
import { redisKey } from '../switchboard.js';
import { createCheckpointStore, type CheckpointStore } from './checkpoint.js';
import { ensureRecordsStream, JetStreamWriter, RecordPublisher } from './durable.js';
import { EmbeddedWriter } from './embedded.js';
import type { PersistRecord, RecordSink } from './records.js';
import { RedisState } from './redis-state.js';
import { migrate, type DbFlavor } from './schema.js';
import { PgWriter } from './writer.js';
import { observePersistence } from './metrics.js';
import { SpanName, traced } from '../tracing.js';

export { migrate } from './schema.js';
export { PgWriter } from './writer.js';
export { RedisState } from './redis-state.js';

/** A pg pool that never crashes the process on an idle client's error. */
export function createPool(url: string, log: Logger, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000, query_timeout: 60_000 });
  pool.on('error', (err) => log.warn({ code: 'E_DB', err: err.message }, 'PostgreSQL connection lost (idle client)'));
  return pool;
}

export interface PersistenceDeps {
  config: Config;
  log: Logger;
  feed: EngineFeed;
  board: MarketBoard;
  slotOf: Readonly<Record<string, number>>;
  /** Risk records as last reported (seeded with restored STALE records at start). */
  latest: Map<string, MarketRisk>;
  /** The engine's NATS connection when configured (records go to JetStream). */
  nc: NatsConnection | null;
}

export interface PersistenceStatus {
  mode: 'jetstream' | 'embedded' | 'off';
  database: { configured: boolean; flavor: DbFlavor | null; ok: boolean; error: string | null };
  redis: { configured: boolean; connected: boolean; pendingKeys: number };
  queueDepth: number;
  counters: Record<string, number>;
}

export interface Persistence {
  /** Where records go (null when persistence is off). */
  readonly sink: RecordSink | null;
  readonly checkpoints: CheckpointStore | null;
  readonly redis: RedisState | null;
  readonly pool: pg.Pool | null;
  status(): PersistenceStatus;
  stop(): Promise<void>;
}

/** Symbols restored from Redis at start: served STALE until the feed verifies a fresh book. */
export async function restoreMarketState(redis: RedisState, prefix: string, symbols: readonly string[], latest: Map<string, MarketRisk>, log: Logger): Promise<Map<string, number>> {
  const restored = new Map<string, number>();
  if (!(await redis.ready(3000))) {
    log.warn({}, 'Redis not reachable at start-up: market state starts cold');
    return restored;
  }
  for (const symbol of symbols) {
    try {
      const v = (await redis.get(redisKey(prefix, 'risk', symbol))) as MarketRisk | null;
      if (v === null || typeof v !== 'object' || v.symbol !== symbol) continue;
      if (!latest.has(symbol)) latest.set(symbol, { ...v, health: BookHealth.STALE });
      restored.set(symbol, v.recvTimeUs);
    } catch {
      break; // Redis down: start cold
    }
  }
  if (restored.size > 0) log.info({ instruments: restored.size }, 'market state restored from Redis: served STALE until fresh snapshots verify');
  return restored;
}

export async function startPersistence(d: PersistenceDeps): Promise<Persistence> {
  const { config, log } = d;
  const dbUrl = config.databaseUrl;
  const pool = dbUrl !== null ? createPool(dbUrl, log) : null;
  const redis = config.redisUrl !== null ? new RedisState(config.redisUrl, log.child({ component: 'redis' })) : null;
  let flavor: DbFlavor | null = null;
  let dbError: string | null = null;
  let writer: PgWriter | null = null;
  if (pool !== null) {
    // Migrations run under an advisory lock; a database that is down at start-up is retried
    // in the background (records wait in JetStream / the queue meanwhile).
    const tryMigrate = async (): Promise<boolean> => {
      try {
        flavor = (await migrate(pool, log, { schema: config.dbSchema, compressAfterDays: config.compressAfterDays, retentionDays: config.retentionDays, refreshWindowHours: config.recordsMaxAgeHours + 24 })).flavor;
        dbError = null;
        return true;
      } catch (err) {
        dbError = (err as Error).message;
        log.error({ code: 'E_DB', err: dbError }, 'database migrations could not run: retrying every 5 s');
        return false;
      }
    };
    if (!(await tryMigrate())) {
      const t = setInterval(() => void tryMigrate().then((ok) => ok && clearInterval(t)), 5000);
      t.unref();
    }
    writer = new PgWriter(pool, config.dbSchema);
  }

  let mode: PersistenceStatus['mode'] = 'off';
  let sink: RecordSink | null = null;
  let publisher: RecordPublisher | null = null;
  let jsWriter: JetStreamWriter | null = null;
  let embedded: EmbeddedWriter | null = null;
  if (writer !== null && d.nc !== null) {
    mode = 'jetstream';
    await ensureRecordsStream(d.nc, config.natsNamespace, { maxBytes: config.recordsMaxBytes, maxAgeHours: config.recordsMaxAgeHours, replicas: config.streamReplicas });
    publisher = new RecordPublisher(d.nc, config.natsNamespace, log.child({ component: 'records' }), config.writerQueueCapacity);
    sink = publisher;
    if (config.writerInProcess) {
      jsWriter = new JetStreamWriter({ nc: d.nc, ns: config.natsNamespace, writer, log: log.child({ component: 'writer' }), batchMax: config.writerBatchMax, ackWaitMs: config.writerAckWaitMs });
      await jsWriter.start();
    }
  } else if (writer !== null) {
    mode = 'embedded';
    embedded = new EmbeddedWriter(writer, log.child({ component: 'writer' }), config.writerQueueCapacity, config.writerBatchMax);
    embedded.start();
    sink = embedded;
  }

  // ---- the recorder: feed → records and Redis
  const offer = (r: PersistRecord) => sink?.offer(r);
  const prefix = config.redisPrefix;
  const ttl = config.redisMarketTtlSec;
  const restored = redis !== null ? await restoreMarketState(redis, prefix, Object.keys(d.slotOf), d.latest, log) : new Map<string, number>();
  const unsubs = [
    d.feed.on('trades', (ts) => {
      for (const t of ts) offer({ k: 'trade', ...t });
    }),
    d.feed.on('gaps', (gs) => {
      for (const g of gs) offer({ k: 'gap', ...g });
    }),
    // Trading-state events are stored by the risk host itself (before the fill that caused
    // them is acknowledged), not from the feed.
    d.feed.on('risk', (rs) => {
      for (const r of rs) {
        // The restart gap of a restored instrument closes when its book is verified live again.
        const since = restored.get(r.symbol);
        if (since !== undefined && r.health === BookHealth.LIVE) {
          restored.delete(r.symbol);
          offer({ k: 'gap', symbol: r.symbol, reason: 'restart', startUs: Math.min(since, r.recvTimeUs), endUs: r.recvTimeUs });
        }
        if (redis !== null) {
          redis.set(redisKey(prefix, 'risk', r.symbol), r, ttl);
          redis.set(redisKey(prefix, 'top', r.symbol), { symbol: r.symbol, health: r.health, bid: r.bid, ask: r.ask, bidQty: r.bidQty, askQty: r.askQty, mid: r.mid, seq: r.seq, recvTimeUs: r.recvTimeUs, simulated: r.simulated }, ttl);
        }
      }
    }),
  ];
  const accounts = new Map<string, Record<string, unknown>>();
  unsubs.push(
    d.feed.on('portfolio', (p) => {
      accounts.set(p.account, p);
      redis?.set(redisKey(prefix, 'account', p.account), p);
    }),
  );

  const lastRisk = new Map<string, number>();
  const lastBook = new Map<string, number>();
  const lastAccount = new Map<string, unknown>();
  const view = new BoardBook();
  const snapshot = () => {
    const now = Date.now() * 1000;
    for (const [symbol, r] of d.latest) {
      const key = `${r.epoch}:${r.seq}:${r.health}`;
      if (lastRisk.get(symbol) === hash(key)) continue;
      lastRisk.set(symbol, hash(key));
      offer({ k: 'risk', symbol, health: r.health, seq: r.seq, timeUs: now, mid: r.mid, spreadBps: r.spreadBps, volAnnual: r.volAnnual, imbalance: r.imbalance, record: r });
    }
    for (const [symbol, slot] of Object.entries(d.slotOf)) {
      if (!d.board.read(slot, view) || view.pricePrecision < 0) continue;
      const key = hash(`${view.epoch}:${view.seq}:${view.health}`);
      if (lastBook.get(symbol) === key) continue;
      lastBook.set(symbol, key);
      const n = config.snapshotLevels;
      const bids: [string, string][] = [];
      const asks: [string, string][] = [];
      for (let i = 0; i < Math.min(n, view.bidCount); i++) bids.push([view.bidPrice(i).toFixed(view.pricePrecision), view.bidQty(i).toFixed(view.qtyPrecision)]);
      for (let i = 0; i < Math.min(n, view.askCount); i++) asks.push([view.askPrice(i).toFixed(view.pricePrecision), view.askQty(i).toFixed(view.qtyPrecision)]);
      offer({ k: 'book', symbol, health: view.health, timeUs: now, bids, asks });
    }
    for (const [account, p] of accounts) {
      if (lastAccount.get(account) === p) continue;
      lastAccount.set(account, p);
      const n = (k: string) => (typeof p[k] === 'number' && Number.isFinite(p[k]) ? (p[k] as number) : null);
      offer({ k: 'account', account, state: String(p.state), timeUs: now, equity: n('equity'), grossExposure: n('grossExposure'), netExposure: n('netExposure'), var99: n('var99'), record: p });
    }
  };
  const tracedSnapshot = () => traced(SpanName.SNAPSHOT_FLUSH, { 'aether.instruments': d.latest.size, 'aether.accounts': accounts.size }, snapshot);
  const timer = config.snapshotIntervalMs > 0 && sink !== null ? setInterval(tracedSnapshot, config.snapshotIntervalMs) : null;
  timer?.unref();

  const checkpoints =
    d.nc !== null && (redis !== null || pool !== null)
      ? createCheckpointStore({ id: config.natsNamespace === '' ? 'risk-host' : `risk-host:${config.natsNamespace}`, redis, redisPrefix: prefix, pool, schema: config.dbSchema, sink, log })
      : null;

  log.info(
    { mode, database: pool !== null ? config.dbSchema : 'off', redis: redis !== null ? 'on' : 'off', writerInProcess: mode === 'jetstream' ? config.writerInProcess : mode === 'embedded' },
    mode === 'jetstream'
      ? 'persistence: records → JetStream RECORDS → PostgreSQL'
      : mode === 'embedded'
        ? 'persistence: records → in-process bounded queue → PostgreSQL (development mode: a long database outage drops records, counted)'
        : 'persistence: no database configured',
  );

  const status = (): PersistenceStatus => ({
      mode,
      database: { configured: pool !== null, flavor, ok: pool === null || (dbError === null && (jsWriter?.counters.failingFor ?? embedded?.counters.failingFor ?? 0) === 0), error: dbError },
      redis: { configured: redis !== null, connected: redis?.connected ?? false, pendingKeys: redis?.pendingKeys ?? 0 },
      queueDepth: embedded?.depth ?? publisher?.queued ?? 0,
      counters: {
        ...(publisher !== null ? prefixed('publish', publisher.counters) : {}),
        ...(jsWriter !== null ? prefixed('writer', jsWriter.counters) : {}),
        ...(embedded !== null ? prefixed('queue', embedded.counters) : {}),
        ...(redis !== null ? prefixed('redis', redis.counters) : {}),
      },
    });
  observePersistence(status);
  return {
    sink,
    checkpoints,
    redis,
    pool,
    status,
    stop: async () => {
      observePersistence(null);
      if (timer !== null) clearInterval(timer);
      for (const u of unsubs) u();
      snapshot();
      if (publisher !== null) {
        await publisher.drain(3000);
        publisher.stop();
      }
      await jsWriter?.stop();
      await embedded?.stop();
      await redis?.stop();
      await pool?.end().catch(() => undefined);
    },
  };
}

function prefixed(p: string, c: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) if (typeof v === 'number') out[`${p}.${k}`] = v;
  return out;
}

/** A cheap string hash (change detection only). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}
