/**
 * The embedded path (no NATS; development): the writer runs in the engine process behind a
 * bounded queue. Overflow policy, in order:
 *  1. below half the capacity every record is queued;
 *  2. from half full, periodic snapshots (book, instrument risk, account risk) are thinned:
 *     not queued, counted in `thinned` (the next snapshot carries the newer state anyway);
 *  3. at capacity every record is dropped, counted in `dropped` and logged (rate-limited).
 * During a database outage the head batch is kept and retried with back-off (0.5 s → 10 s).
 */
import type { Log } from '../ports.js';
import { LogLimiter } from '../ports.js';
import { admit, type PersistRecord } from './records.js';
import type { PgWriter } from './writer.js';

export interface EmbeddedCounters {
  queued: number;
  stored: number;
  deadLettered: number;
  thinned: number;
  dropped: number;
  failures: number;
  failingFor: number;
}

export class EmbeddedWriter {
  readonly counters: EmbeddedCounters = { queued: 0, stored: 0, deadLettered: 0, thinned: 0, dropped: 0, failures: 0, failingFor: 0 };
  private queue: PersistRecord[] = [];
  private head = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly limiter: LogLimiter;

  constructor(
    private readonly writer: PgWriter,
    private readonly log: Log,
    readonly capacity: number,
    private readonly batchMax: number,
  ) {
    this.limiter = new LogLimiter(log, 10_000);
  }

  get depth(): number {
    return this.queue.length - this.head;
  }

  offer(r: PersistRecord): boolean {
    const depth = this.depth;
    const verdict = admit(r, depth, this.capacity);
    if (verdict === 'drop') {
      this.counters.dropped++;
      this.limiter.error('dropped', { code: 'E_RECORDS_DROPPED', kind: r.k, dropped: this.counters.dropped, capacity: this.capacity }, 'in-process record queue full (database unavailable?): record dropped');
      return false;
    }
    if (verdict === 'thin') {
      this.counters.thinned++;
      this.limiter.warn('thinned', { thinned: this.counters.thinned, depth }, 'in-process record queue over half full: periodic snapshots thinned');
      return false;
    }
    this.queue.push(r);
    this.counters.queued++;
    if (this.wake !== null && depth + 1 >= Math.min(this.batchMax, 1000)) this.wake();
    return true;
  }

  /** Resolves immediately on the records already accepted; use `flush` to wait for them. */
  store(r: PersistRecord): Promise<void> {
    this.offer(r);
    return Promise.resolve();
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running || this.depth > 0) {
      if (this.depth === 0) {
        if (!this.running) break;
        await this.sleep(100);
        continue;
      }
      const end = Math.min(this.queue.length, this.head + this.batchMax);
      const batch = this.queue.slice(this.head, end);
      try {
        const r = await this.writer.write(batch);
        this.head = end;
        if (this.head > 65_536 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        this.counters.stored += r.stored;
        this.counters.deadLettered += r.deadLettered;
        if (this.counters.failingFor > 0) this.log.info({ after: this.counters.failingFor, depth: this.depth }, 'writer: database writes resumed');
        this.counters.failingFor = 0;
      } catch (err) {
        this.counters.failures++;
        this.counters.failingFor++;
        if (!this.running) break; // stopping while the database is down: the rest is lost (counted)
        const wait = Math.min(10_000, 500 * 2 ** Math.min(5, this.counters.failingFor - 1));
        this.limiter.error('db', { code: 'E_DB_WRITE', err: (err as Error).message, depth: this.depth, retryInMs: wait }, 'writer: database write failed; records kept in the in-process queue and retried');
        await this.sleep(wait);
      }
      if (this.depth < Math.min(this.batchMax, 1000) && this.running) await this.sleep(50);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.wake = null;
        r();
      }, ms);
      this.wake = () => {
        this.wake = null;
        clearTimeout(t);
        r();
      };
    });
  }

  /** Write what is queued (bounded in time), then stop. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.running = false;
    this.wake?.();
    await Promise.race([this.loop ?? Promise.resolve(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    if (this.depth > 0) {
      this.counters.dropped += this.depth;
      this.log.error({ code: 'E_RECORDS_DROPPED', lost: this.depth }, 'stopped with records not yet written (database unavailable)');
    }
  }
}
