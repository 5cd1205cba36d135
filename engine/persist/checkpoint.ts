/**
 * Warm-restart checkpoints of the risk host: every account's positions (exact lots), trading
 * state, day reference points and recent fill ids, the inline limits, and the FILLS stream
 * sequence up to which every fill is included (the watermark).
 *
 * Saved every snapshot interval to Redis (the fast path) and, as a `state` record, to
 * PostgreSQL (through JetStream). Loaded at start-up from both: when both exist the one with
 * the higher watermark wins; at the same watermark PostgreSQL wins and a disagreement is
 * logged. The restart then replays every fill after the watermark (engine/risk-host.ts).
 */
import type { Pool } from 'pg';
import type { AccountSnapshot } from '../../actors/account.js';
import type { Log } from '../ports.js';
import { redisKey } from '../switchboard.js';
import type { RecordSink } from './records.js';
import type { RedisState } from './redis-state.js';

export interface Checkpoint {
  readonly fillSeq: number;
  readonly timeUs: number;
  readonly limits: unknown;
  readonly accounts: readonly AccountSnapshot[];
}

export interface CheckpointStore {
  save(cp: Checkpoint): void;
  load(): Promise<{ checkpoint: Checkpoint; source: 'redis' | 'postgresql' } | null>;
}

export interface CheckpointStoreOptions {
  /** Identifies this engine's checkpoint (one risk host per namespace). */
  id: string;
  redis: RedisState | null;
  redisPrefix: string;
  pool: Pool | null;
  schema: string;
  sink: RecordSink | null;
  log: Log;
}

function isCheckpoint(x: unknown): x is Checkpoint {
  const c = x as Partial<Checkpoint> | null;
  return typeof c === 'object' && c !== null && typeof c.fillSeq === 'number' && typeof c.timeUs === 'number' && Array.isArray(c.accounts);
}

/** Stable text of the parts that must agree (positions and states), for the comparison. */
function essence(c: Checkpoint): string {
  return JSON.stringify(
    [...c.accounts]
      .sort((a, b) => (a.account < b.account ? -1 : 1))
      .map((a) => [a.account, a.state, [...a.positions].sort((x, y) => (x.symbol < y.symbol ? -1 : 1)).map((p) => [p.symbol, p.lots, p.avgEntry, p.realizedPnl])]),
  );
}

export function createCheckpointStore(o: CheckpointStoreOptions): CheckpointStore {
  const key = redisKey(o.redisPrefix, 'engine', o.id);
  let last = '';
  let lastTime = 0;
  return {
    save(cp) {
      // An unchanged state (same fills, same trading states) is written again once a minute.
      const text = JSON.stringify({ ...cp, timeUs: 0 });
      if (text === last && cp.timeUs - lastTime < 60_000_000) return;
      last = text;
      lastTime = cp.timeUs;
      o.redis?.set(key, cp);
      o.sink?.offer({ k: 'state', id: o.id, fillSeq: cp.fillSeq, timeUs: cp.timeUs, state: cp });
    },
    async load() {
      let fromRedis: Checkpoint | null = null;
      let fromPg: Checkpoint | null = null;
      if (o.redis !== null) {
        try {
          const v = await Promise.race([o.redis.get(key), new Promise<null>((r) => setTimeout(() => r(null), 3000).unref())]);
          if (isCheckpoint(v)) fromRedis = v;
        } catch (err) {
          o.log.warn({ err: (err as Error).message }, 'warm restart: Redis checkpoint unreadable');
        }
      }
      if (o.pool !== null) {
        try {
          const r = await o.pool.query<{ state: unknown }>(`SELECT state FROM "${o.schema}".engine_state WHERE id = $1`, [o.id]);
          if (r.rows.length > 0 && isCheckpoint(r.rows[0]!.state)) fromPg = r.rows[0]!.state;
        } catch (err) {
          o.log.warn({ err: (err as Error).message }, 'warm restart: PostgreSQL checkpoint unreadable');
        }
      }
      if (fromRedis !== null && fromPg !== null) {
        if (fromRedis.fillSeq === fromPg.fillSeq && essence(fromRedis) !== essence(fromPg)) {
          o.log.warn({ fillSeq: fromPg.fillSeq }, 'warm restart: Redis and PostgreSQL checkpoints disagree at the same fill sequence: PostgreSQL wins');
          return { checkpoint: fromPg, source: 'postgresql' };
        }
        return fromRedis.fillSeq > fromPg.fillSeq ? { checkpoint: fromRedis, source: 'redis' } : { checkpoint: fromPg, source: 'postgresql' };
      }
      if (fromPg !== null) return { checkpoint: fromPg, source: 'postgresql' };
      if (fromRedis !== null) return { checkpoint: fromRedis, source: 'redis' };
      return null;
    },
  };
}
