/**
 * The latest state in Redis: per instrument (top of book, risk) and per account (positions,
 * risk, trading state, limits), plus the risk host's warm-restart checkpoint. A read cache for
 * other services and the warm-restart cache; PostgreSQL and JetStream are the sources of truth.
 *
 * Writes are coalesced: only the newest value per key is pending; a flush sends them in one
 * pipeline of plain `SET` (idempotent: a resent SET cannot double-apply). ioredis runs with
 * its offline queue off and no per-command retries, so nothing queues inside the client while
 * Redis is down: pending work is at most one value per key. Every value written is also kept
 * (`current`), and all of it is re-asserted as soon as Redis is back.
 */
import { Redis } from 'ioredis';
import type { Log } from '../ports.js';
import { LogLimiter } from '../ports.js';
import { endSpan, SpanName, startSpan } from '../tracing.js';

export interface RedisStateCounters {
  /** Values superseded before they were flushed. */
  coalesced: number;
  written: number;
  flushes: number;
  failures: number;
  /** Times every key was re-asserted after Redis came back. */
  reasserts: number;
}

interface Value {
  readonly text: string;
  /** Seconds to live; 0 = no expiry. */
  readonly ttlSec: number;
}

export class RedisState {
  readonly counters: RedisStateCounters = { coalesced: 0, written: 0, flushes: 0, failures: 0, reasserts: 0 };
  readonly client: Redis;
  private readonly current = new Map<string, Value>();
  private pending = new Map<string, Value>();
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;
  private readonly limiter: LogLimiter;
  private wasDown = false;

  constructor(
    url: string,
    private readonly log: Log,
    private readonly flushMs = 100,
  ) {
    this.limiter = new LogLimiter(log, 10_000);
    this.client = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Reconnect quickly (keys are re-asserted within ~1 s of Redis returning).
      retryStrategy: (n) => Math.min(250 * n, 1000),
      connectTimeout: 2000,
      lazyConnect: false,
    });
    this.client.on('error', (err: Error) => this.limiter.warn('redis', { code: 'E_REDIS', err: err.message }, 'Redis unavailable: latest state kept in memory and re-asserted when it returns'));
    this.client.on('ready', () => {
      if (this.wasDown) {
        this.counters.reasserts++;
        for (const [k, v] of this.current) this.pending.set(k, v);
        this.log.info({ keys: this.current.size }, 'Redis back: re-asserting every key');
        void this.flush();
      }
    });
    this.client.on('close', () => {
      this.wasDown = true;
    });
  }

  /** Resolves true once connected (false after `timeoutMs`): reads at start-up wait for it. */
  ready(timeoutMs = 3000): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.client.off('ready', on);
        resolve(false);
      }, timeoutMs);
      t.unref();
      const on = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.client.once('ready', on);
    });
  }

  get connected(): boolean {
    return this.client.status === 'ready';
  }

  get pendingKeys(): number {
    return this.pending.size;
  }

  /** Set `key` to `value` (JSON) soon; replaces a value still pending for that key. */
  set(key: string, value: unknown, ttlSec = 0): void {
    const v: Value = { text: JSON.stringify(value), ttlSec };
    if (this.pending.has(key)) this.counters.coalesced++;
    this.pending.set(key, v);
    this.current.set(key, v);
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.flushMs);
      this.timer.unref();
    }
  }

  /** Send every pending value in one pipeline; on failure they stay pending (newest wins). */
  async flush(): Promise<boolean> {
    if (this.flushing || this.pending.size === 0) return this.pending.size === 0;
    if (this.client.status !== 'ready') return false;
    this.flushing = true;
    const batch = this.pending;
    this.pending = new Map();
    const span = startSpan(SpanName.SNAPSHOT_FLUSH, { 'aether.store': 'redis', 'aether.keys': batch.size });
    let failure: unknown;
    try {
      const p = this.client.pipeline();
      for (const [k, v] of batch) {
        if (v.ttlSec > 0) p.set(k, v.text, 'EX', v.ttlSec);
        else p.set(k, v.text);
      }
      const res = await p.exec();
      const failed = res?.filter(([err]) => err !== null).length ?? batch.size;
      if (failed > 0) throw new Error(`${failed} of ${batch.size} SETs failed`);
      this.counters.written += batch.size;
      this.counters.flushes++;
      this.wasDown = false;
      return true;
    } catch (err) {
      failure = err;
      this.counters.failures++;
      // Put back what was not superseded meanwhile.
      for (const [k, v] of batch) if (!this.pending.has(k)) this.pending.set(k, v);
      this.limiter.warn('redis-flush', { code: 'E_REDIS', err: (err as Error).message, pending: this.pending.size }, 'Redis write failed: values stay pending');
      return false;
    } finally {
      endSpan(span, failure);
      this.flushing = false;
      if (this.pending.size > 0 && this.timer === null && this.client.status === 'ready') {
        this.timer = setTimeout(() => {
          this.timer = null;
          void this.flush();
        }, this.flushMs);
        this.timer.unref();
      }
    }
  }

  async get(key: string): Promise<unknown> {
    const text = await this.client.get(key);
    return text === null ? null : (JSON.parse(text) as unknown);
  }

  /** Keys matching a pattern (SCAN, not KEYS). */
  async scan(pattern: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
    return out;
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, 1000).unref())]);
    this.client.disconnect();
  }
}
