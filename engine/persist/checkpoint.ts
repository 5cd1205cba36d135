/**
 * Warm-restart checkpoints of the risk host: every account's positions (exact lots), trading
 * state, day reference points and recent fill ids, the inline limits, and the FILLS stream
 * sequence up to which every fill is included (the watermark).
 *
 * Saved (at a quiet moment after each change, at most once per snapshot interval) to Redis
 * (the fast path) and, as a `state` record, to PostgreSQL (through JetStream). Loaded at
 * start-up from both; engine/risk-host.ts decides which one to resume from (PostgreSQL is the
 * reference; a newer Redis copy is used only if it agrees) and replays every fill after it.
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
  /** Quantity precision per instrument known when it was taken (replay before books load). */
  readonly precisions?: Readonly<Record<string, number>>;
  readonly accounts: readonly AccountSnapshot[];
}

export interface CheckpointStore {
  save(cp: Checkpoint): void;
  /** Both copies (null where absent or unreadable); the risk host decides (risk-host.ts restore). */
  load(): Promise<{ postgresql: Checkpoint | null; redis: Checkpoint | null }>;
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
      if (o.redis !== null && (await o.redis.ready(3000))) {
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
      return { postgresql: fromPg, redis: fromRedis };
    },
  };
}
