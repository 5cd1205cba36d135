/**
 * The database schema: versioned migrations, applied once each, in order, under an advisory
 * lock (several processes may start at once), each recorded in `<schema>.schema_migrations`.
 *
 * Two shapes of the same tables:
 *  - TimescaleDB (the `timescaledb` extension is available): time-series tables become
 *    hypertables with compression and retention policies, and `ohlcv_1m` is a continuous
 *    aggregate over trades.
 *  - Plain PostgreSQL: the same tables with BRIN time indexes, and `ohlcv_1m` a plain view
 *    with the same columns, so the same queries work.
 * Which one is used is detected on every run and logged; the choice made when the schema was
 * first created is recorded in `schema_info`.
 *
 * Fills, positions, risk events, feed gaps, dead letters and the engine state checkpoint are
 * ordinary tables in both shapes: they are the records of account (unique by id, kept
 * forever), low in volume, and their unique keys need not include time.
 */
import type { Pool, PoolClient } from 'pg';
import type { Log } from '../ports.js';

export type DbFlavor = 'timescaledb' | 'postgresql';

export interface MigrateOptions {
  schema: string;
  compressAfterDays: number;
  retentionDays: number;
  /** Force plain PostgreSQL even when TimescaleDB is installed (tests of the fallback). */
  forcePlain?: boolean;
  /** How far back the OHLCV aggregate is refreshed (the RECORDS stream's age limit + a day). */
  refreshWindowHours?: number;
}

export interface MigrateResult {
  flavor: DbFlavor;
  applied: number[];
  current: number;
}

interface Migration {
  readonly version: number;
  readonly name: string;
  /**
   * Run in one transaction. TimescaleDB refuses some of its DDL (continuous aggregates) inside
   * a transaction block, so that shape runs statement by statement; each statement there is
   * idempotent (IF NOT EXISTS / if_not_exists), so a run cut short is completed by the next.
   */
  transactional(flavor: DbFlavor): boolean;
  sql(s: string, o: MigrateOptions, flavor: DbFlavor): string[];
}

/** Tables that are hypertables on TimescaleDB: name → time column. */
export const HYPERTABLES = {
  trades: 'time',
  book_snapshots: 'time',
  risk_snapshots: 'time',
  account_snapshots: 'time',
} as const;

/** Quote an identifier already checked by the config (lowercase, [a-z0-9_]). */
function q(s: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(s)) throw new Error(`bad SQL identifier: ${s}`);
  return `"${s}"`;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tables',
    transactional: () => true,
    sql: (s) => {
      const S = q(s);
      return [
        `CREATE TABLE IF NOT EXISTS ${S}.trades (
           time timestamptz NOT NULL,
           symbol text NOT NULL,
           trade_id bigint NOT NULL,
           side text NOT NULL CHECK (side IN ('buy', 'sell')),
           price numeric NOT NULL CHECK (price > 0),
           qty numeric NOT NULL CHECK (qty > 0),
           recv_time timestamptz NOT NULL,
           PRIMARY KEY (symbol, trade_id, time))`,
        `CREATE TABLE IF NOT EXISTS ${S}.book_snapshots (
           time timestamptz NOT NULL,
           symbol text NOT NULL,
           health text NOT NULL,
           bid_prices numeric[] NOT NULL,
           bid_qtys numeric[] NOT NULL,
           ask_prices numeric[] NOT NULL,
           ask_qtys numeric[] NOT NULL,
           PRIMARY KEY (symbol, time))`,
        `CREATE TABLE IF NOT EXISTS ${S}.risk_snapshots (
           time timestamptz NOT NULL,
           symbol text NOT NULL,
           health text NOT NULL,
           seq bigint NOT NULL,
           mid double precision,
           spread_bps double precision,
           vol_annual double precision,
           imbalance double precision,
           record jsonb NOT NULL,
           PRIMARY KEY (symbol, time))`,
        `CREATE TABLE IF NOT EXISTS ${S}.account_snapshots (
           time timestamptz NOT NULL,
           account text NOT NULL,
           state text NOT NULL,
           equity double precision,
           gross_exposure double precision,
           net_exposure double precision,
           var99 double precision,
           record jsonb NOT NULL,
           PRIMARY KEY (account, time))`,
        `CREATE TABLE IF NOT EXISTS ${S}.fills (
           fill_id text PRIMARY KEY,
           time timestamptz NOT NULL,
           account text NOT NULL,
           symbol text NOT NULL,
           side text NOT NULL CHECK (side IN ('buy', 'sell')),
           price numeric NOT NULL CHECK (price > 0),
           qty numeric NOT NULL CHECK (qty > 0),
           fee numeric NOT NULL,
           order_id text,
           stream_seq bigint NOT NULL)`,
        `CREATE INDEX IF NOT EXISTS fills_account_time ON ${S}.fills (account, time)`,
        `CREATE TABLE IF NOT EXISTS ${S}.positions (
           account text NOT NULL,
           symbol text NOT NULL,
           fill_id text NOT NULL,
           time timestamptz NOT NULL,
           qty numeric NOT NULL,
           avg_entry double precision NOT NULL,
           realized_pnl double precision NOT NULL,
           fees_paid double precision NOT NULL,
           PRIMARY KEY (account, symbol, fill_id))`,
        `CREATE INDEX IF NOT EXISTS positions_account_time ON ${S}.positions (account, symbol, time)`,
        `CREATE TABLE IF NOT EXISTS ${S}.risk_events (
           event_id text PRIMARY KEY,
           time timestamptz NOT NULL,
           account text NOT NULL,
           from_state text NOT NULL,
           to_state text NOT NULL,
           reason text NOT NULL,
           manual boolean NOT NULL)`,
        `CREATE TABLE IF NOT EXISTS ${S}.feed_gaps (
           symbol text NOT NULL,
           reason text NOT NULL,
           start_time timestamptz NOT NULL,
           end_time timestamptz NOT NULL,
           PRIMARY KEY (symbol, start_time))`,
        `CREATE TABLE IF NOT EXISTS ${S}.dead_letters (
           id bigserial PRIMARY KEY,
           time timestamptz NOT NULL DEFAULT now(),
           kind text NOT NULL,
           reason text NOT NULL,
           sqlstate text,
           record text NOT NULL)`,
        // A redelivered poison record is dead-lettered once.
        `CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_once ON ${S}.dead_letters (kind, md5(record))`,
        // The account-state checkpoint for warm restart: the newest per engine wins.
        `CREATE TABLE IF NOT EXISTS ${S}.engine_state (
           id text PRIMARY KEY,
           fill_seq bigint NOT NULL,
           time timestamptz NOT NULL,
           state jsonb NOT NULL)`,
      ];
    },
  },
  {
    version: 2,
    name: 'time-series shape (hypertables, policies, OHLCV) or plain indexes',
    transactional: (flavor) => flavor !== 'timescaledb',
    sql: (s, o, flavor) => {
      const S = q(s);
      const out: string[] = [];
      if (flavor === 'timescaledb') {
        for (const [table, col] of Object.entries(HYPERTABLES)) {
          // The 2.0 signature (still accepted by every later 2.x release).
          out.push(`SELECT create_hypertable('${S}.${table}', '${col}', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE)`);
        }
        const segment: Record<string, string> = { trades: 'symbol', book_snapshots: 'symbol', risk_snapshots: 'symbol', account_snapshots: 'account' };
        // Order by every column of the unique key besides the segment: TimescaleDB checks
        // uniqueness in compressed chunks with it.
        const orderBy: Record<string, string> = { trades: 'time DESC, trade_id', book_snapshots: 'time DESC', risk_snapshots: 'time DESC', account_snapshots: 'time DESC' };
        for (const table of Object.keys(HYPERTABLES)) {
          out.push(`ALTER TABLE ${S}.${table} SET (timescaledb.compress, timescaledb.compress_segmentby = '${segment[table]}', timescaledb.compress_orderby = '${orderBy[table]}')`);
          out.push(`SELECT add_compression_policy('${S}.${table}', INTERVAL '${o.compressAfterDays} days', if_not_exists => TRUE)`);
          out.push(`SELECT add_retention_policy('${S}.${table}', INTERVAL '${o.retentionDays} days', if_not_exists => TRUE)`);
        }
        out.push(
          // Real-time aggregate (materialized_only = false, the default before 2.13): the same
          // answers as the plain view, recent minutes included.
          `CREATE MATERIALIZED VIEW IF NOT EXISTS ${S}.ohlcv_1m WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
             SELECT symbol, time_bucket(INTERVAL '1 minute', time) AS bucket,
                    first(price, time) AS open, max(price) AS high, min(price) AS low, last(price, time) AS close,
                    sum(qty) AS volume, count(*) AS trades
               FROM ${S}.trades GROUP BY symbol, bucket WITH NO DATA`,
        );
        out.push(
          // The refresh window reaches back as far as a record may wait in JetStream (its age
          // limit), so trades stored late after a database outage are aggregated too.
          `SELECT add_continuous_aggregate_policy('${S}.ohlcv_1m', start_offset => INTERVAL '${o.refreshWindowHours ?? 192} hours', end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE)`,
        );
      } else {
        for (const table of Object.keys(HYPERTABLES)) out.push(`CREATE INDEX IF NOT EXISTS ${table}_time_brin ON ${S}.${table} USING brin (time)`);
        out.push(`CREATE INDEX IF NOT EXISTS feed_gaps_time ON ${S}.feed_gaps (start_time)`);
        out.push(`CREATE INDEX IF NOT EXISTS risk_events_time ON ${S}.risk_events (account, time)`);
        // The same columns as the continuous aggregate, computed on read.
        out.push(
          `CREATE OR REPLACE VIEW ${S}.ohlcv_1m AS
             SELECT symbol, date_trunc('minute', time) AS bucket,
                    (array_agg(price ORDER BY time, trade_id))[1] AS open, max(price) AS high, min(price) AS low,
                    (array_agg(price ORDER BY time DESC, trade_id DESC))[1] AS close,
                    sum(qty) AS volume, count(*) AS trades
               FROM ${S}.trades GROUP BY symbol, bucket`,
        );
      }
      return out;
    },
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Whether the timescaledb extension can be used (installed or installable). */
async function detectFlavor(c: PoolClient, forcePlain: boolean): Promise<DbFlavor> {
  if (forcePlain) return 'postgresql';
  const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'timescaledb'`);
  return Number(r.rows[0]!.n) > 0 ? 'timescaledb' : 'postgresql';
}

/** A stable 64-bit advisory-lock key per schema. */
function lockKey(schema: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(`aether-migrate:${schema}`)) h = BigInt.asUintN(64, (h ^ BigInt(ch)) * 0x100000001b3n);
  return BigInt.asIntN(64, h).toString();
}

/**
 * Apply every migration not yet applied, in order, each in its own transaction, all under a
 * session advisory lock: a second process waits for the first, then finds nothing to do.
 */
export async function migrate(pool: Pool, log: Log, o: MigrateOptions): Promise<MigrateResult> {
  const c = await pool.connect();
  const onError = () => undefined; // reported by the failing query
  c.on('error', onError);
  const S = q(o.schema);
  try {
    await c.query('SELECT pg_advisory_lock($1)', [lockKey(o.schema)]);
    try {
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${S}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${S}.schema_info (key text PRIMARY KEY, value text NOT NULL)`);
      const recorded = await c.query<{ value: string }>(`SELECT value FROM ${S}.schema_info WHERE key = 'flavor'`);
      let flavor: DbFlavor;
      if (recorded.rows.length > 0) flavor = recorded.rows[0]!.value as DbFlavor;
      else {
        flavor = await detectFlavor(c, o.forcePlain === true);
        if (flavor === 'timescaledb') {
          // Listed is not usable: the library may be missing from shared_preload_libraries,
          // or this role may not create extensions. Then: plain tables, said in the log.
          try {
            await c.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'timescaledb is installed but cannot be used here: using plain PostgreSQL tables');
            flavor = 'postgresql';
          }
        }
        await c.query(`INSERT INTO ${S}.schema_info (key, value) VALUES ('flavor', $1) ON CONFLICT (key) DO NOTHING`, [flavor]);
      }
      const done = new Set((await c.query<{ version: number }>(`SELECT version FROM ${S}.schema_migrations`)).rows.map((r) => r.version));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        const tx = m.transactional(flavor);
        if (tx) await c.query('BEGIN');
        try {
          for (const stmt of m.sql(o.schema, o, flavor)) await c.query(stmt);
          await c.query(`INSERT INTO ${S}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
          if (tx) await c.query('COMMIT');
        } catch (err) {
          if (tx) await c.query('ROLLBACK').catch(() => undefined);
          throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
        }
        applied.push(m.version);
      }
      log.info(
        { schema: o.schema, flavor, applied, current: LATEST_VERSION },
        flavor === 'timescaledb'
          ? `database: TimescaleDB (hypertables, compression after ${o.compressAfterDays} d, retention ${o.retentionDays} d)`
          : 'database: plain PostgreSQL (timescaledb extension not available: plain tables with BRIN time indexes)',
      );
      return { flavor, applied, current: LATEST_VERSION };
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [lockKey(o.schema)]).catch(() => undefined);
    }
  } finally {
    c.off('error', onError);
    c.release();
  }
}
