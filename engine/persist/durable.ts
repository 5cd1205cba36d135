/**
 * The durable path (NATS configured): records go to the JetStream RECORDS stream, and writers
 * move them from there into PostgreSQL.
 *
 *   engine ──async publish, msg id, bounded in-flight──▶ RECORDS ──durable pull consumer──▶ writer ──COPY──▶ PostgreSQL
 *
 * The stream is the buffer: while the database is down or slow, records wait there (within
 * the stream's size and age limits; past the size limit new records are refused and counted,
 * old ones are never discarded). Writers acknowledge only after their batch commits; several
 * writers (in the engine, or `aether-risk writer` deployments) share one durable consumer.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Log } from '../ports.js';
import { LogLimiter } from '../ports.js';
import { randomUUID } from 'node:crypto';
import { admit, type PersistRecord } from './records.js';
import type { PgWriter } from './writer.js';
import { recordsStreamName, recordsSubject, recordsWildcard, writerConsumerName } from '../switchboard.js';

export interface RecordsStreamLimits {
  maxBytes: number;
  maxAgeHours: number;
  replicas?: number;
}

/**
 * Create the RECORDS stream, or bring its limits up to date. Work-queue retention: a record
 * leaves the stream when a writer acknowledges it (after its batch committed), so the size
 * and age limits bound only the backlog the database has not taken yet.
 */
export async function ensureRecordsStream(nc: NatsConnection, ns: string, limits: RecordsStreamLimits): Promise<string> {
  const jsm = await jetstreamManager(nc);
  const name = recordsStreamName(ns);
  const cfg = {
    subjects: [recordsWildcard(ns)],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_bytes: limits.maxBytes,
    max_age: limits.maxAgeHours * 3600 * 1e9,
    duplicate_window: 120 * 1e9,
    num_replicas: limits.replicas ?? 1,
  };
  try {
    const info = await jsm.streams.info(name);
    if (info.config.retention !== RetentionPolicy.Workqueue) {
      throw new Error(`stream ${name} exists with ${info.config.retention} retention; it must be a work queue (back it up, delete it, restart)`);
    }
    const { retention: _r, ...limitsOnly } = cfg;
    await jsm.streams.update(name, { ...info.config, ...limitsOnly });
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add({ name, ...cfg });
  }
  return name;
}

export interface PublisherCounters {
  published: number;
  /** Publishes retried after a timeout or a refusal (the same message id: stored once). */
  retries: number;
  /** Snapshots not queued because the queue was over half full (thinning). */
  thinned: number;
  /** Records not queued because the queue was full. */
  dropped: number;
  /** Retries in a row of the oldest record (0 when publishing flows). */
  failingFor: number;
}

/** Records per JetStream message (one JSON array): publishing is per message, not per record. */
export const RECORDS_PER_MESSAGE = 100;

interface Pending {
  readonly data: string;
  readonly id: string;
  readonly count: number;
  readonly dones: (() => void)[];
  attempts: number;
}

/**
 * Async JetStream publisher for records. Records are packed into messages of up to
 * RECORDS_PER_MESSAGE (a JSON array, sealed at the end of the current turn of the event loop
 * or when full), each with a unique message id kept across retries, so a retried publish is
 * stored once. At most `maxInFlight` messages await their ack; the rest wait in a queue
 * bounded in records (`capacity`). The caller never waits (`offer`), except `store`, which
 * resolves once the record is in the stream (fills are acknowledged only after that).
 * Failed publishes are retried in order, with back-off. Each record also carries its own
 * natural id, which the database uses to store it once whatever the transport did.
 */
export class RecordPublisher {
  readonly counters: PublisherCounters = { published: 0, retries: 0, thinned: 0, dropped: 0, failingFor: 0 };
  private readonly js: JetStreamClient;
  private readonly queue: Pending[] = [];
  private head = 0;
  private inFlight = 0;
  private inFlightRecords = 0;
  private queuedRecords = 0;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly limiter: LogLimiter;
  private idle: (() => void)[] = [];
  private open: string[] = [];
  private openDones: (() => void)[] = [];
  private sealScheduled = false;
  private readonly idPrefix = randomUUID();
  private msgSeq = 0;
  private readonly subject: string;

  constructor(
    nc: NatsConnection,
    ns: string,
    private readonly log: Log,
    private readonly capacity = 200_000,
    private readonly maxInFlight = 256,
  ) {
    this.js = jetstream(nc, { timeout: 5000 });
    this.limiter = new LogLimiter(log, 10_000);
    this.subject = recordsSubject(ns, 'batch');
  }

  /** Records not yet stored in JetStream (queued, being packed, or awaiting their ack). */
  get queued(): number {
    return this.queuedRecords + this.open.length + this.inFlightRecords;
  }

  /** Queue a record for publishing; false when it was thinned or dropped (counted). */
  offer(r: PersistRecord): boolean {
    const verdict = admit(r, this.queuedRecords + this.open.length, this.capacity);
    if (verdict === 'drop') {
      this.counters.dropped++;
      this.limiter.warn('records-dropped', { code: 'E_RECORDS_DROPPED', kind: r.k, dropped: this.counters.dropped, capacity: this.capacity }, 'record queue to JetStream full: record dropped');
      return false;
    }
    if (verdict === 'thin') {
      this.counters.thinned++;
      return false;
    }
    this.add(r, null);
    return true;
  }

  /** Publish and resolve once JetStream has stored it (retried until then, never dropped). */
  store(r: PersistRecord): Promise<void> {
    return new Promise<void>((resolve) => this.add(r, resolve));
  }

  private add(r: PersistRecord, done: (() => void) | null): void {
    this.open.push(JSON.stringify(r));
    if (done !== null) this.openDones.push(done);
    if (this.open.length >= RECORDS_PER_MESSAGE) this.seal();
    else if (!this.sealScheduled) {
      this.sealScheduled = true;
      setImmediate(() => {
        this.sealScheduled = false;
        this.seal();
      });
    }
  }

  private seal(): void {
    if (this.open.length === 0) return;
    const p: Pending = { data: `[${this.open.join(',')}]`, id: `${this.idPrefix}:${++this.msgSeq}`, count: this.open.length, dones: this.openDones, attempts: 0 };
    this.open = [];
    this.openDones = [];
    this.queue.push(p);
    this.queuedRecords += p.count;
    this.pump();
  }

  private pump(): void {
    if (this.retryTimer !== null) return;
    while (!this.stopped && this.inFlight < this.maxInFlight && this.head < this.queue.length) {
      const p = this.queue[this.head++]!;
      if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.send(p);
    }
    if (this.queued === 0) for (const f of this.idle.splice(0)) f();
  }

  private send(p: Pending): void {
    this.inFlight++;
    this.inFlightRecords += p.count;
    this.queuedRecords -= p.count;
    p.attempts++;
    this.js.publish(this.subject, p.data, { msgID: p.id }).then(
      () => {
        this.inFlight--;
        this.inFlightRecords -= p.count;
        this.counters.published += p.count;
        this.counters.failingFor = 0;
        for (const d of p.dones) d();
        this.pump();
      },
      (err: Error) => {
        this.inFlight--;
        this.inFlightRecords -= p.count;
        this.queuedRecords += p.count;
        this.counters.retries++;
        this.counters.failingFor++;
        this.limiter.warn('records-retry', { code: 'E_RECORDS_PUBLISH', err: err.message, id: p.id, attempts: p.attempts }, 'record publish to JetStream failed: retrying with the same message id');
        // Back to the front of the queue, and a pause before anything else goes out.
        if (this.head > 0) this.queue[--this.head] = p;
        else this.queue.unshift(p);
        if (!this.stopped && this.retryTimer === null) {
          const wait = Math.min(5000, 100 * 2 ** Math.min(6, this.counters.failingFor));
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.pump();
          }, wait);
          this.retryTimer.unref();
        }
      },
    );
  }

  /** Resolves when everything queued has been stored, or after `timeoutMs`. */
  async drain(timeoutMs = 5000): Promise<boolean> {
    this.seal();
    if (this.queued === 0) return true;
    return Promise.race([new Promise<boolean>((r) => this.idle.push(() => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
  }
}

export interface JsWriterOptions {
  nc: NatsConnection;
  ns: string;
  writer: PgWriter;
  log: Log;
  batchMax: number;
  ackWaitMs: number;
  /**
   * Batches in flight at once (each its own fetch and database connection): while one batch
   * is in PostgreSQL (COPY, INSERT, COMMIT) the next is fetched and encoded. Default 2.
   */
  concurrency?: number;
}

export interface JsWriterCounters {
  batches: number;
  stored: number;
  deadLettered: number;
  failures: number;
  /** Consecutive failed batches (database down): the back-off grows with it. */
  failingFor: number;
}

/**
 * One writer replica: fetches batches from the durable pull consumer, stores each batch in
 * one transaction, acknowledges after COMMIT. On a database error the batch is negatively
 * acknowledged with a delay and the writer backs off (0.5 s doubling to 10 s).
 */
export class JetStreamWriter {
  readonly counters: JsWriterCounters = { batches: 0, stored: 0, deadLettered: 0, failures: 0, failingFor: 0 };
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly limiter: LogLimiter;
  private readonly wakers = new Set<() => void>();

  constructor(private readonly o: JsWriterOptions) {
    this.limiter = new LogLimiter(o.log, 10_000);
  }

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.o.nc);
    const stream = recordsStreamName(this.o.ns);
    const durable = writerConsumerName(this.o.ns);
    const cfg = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: this.o.ackWaitMs * 1e6,
      max_ack_pending: Math.max(1000, Math.ceil(this.o.batchMax / RECORDS_PER_MESSAGE) * 16),
      max_deliver: -1,
    };
    try {
      await jsm.consumers.info(stream, durable);
      await jsm.consumers.update(stream, durable, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending });
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw err;
      await jsm.consumers.add(stream, cfg);
    }
    this.running = true;
    for (let i = 0; i < Math.max(1, this.o.concurrency ?? 2); i++) this.loops.push(this.run(stream, durable));
  }

  private async run(stream: string, durable: string): Promise<void> {
    const consumer = await jetstream(this.o.nc).consumers.get(stream, durable);
    while (this.running) {
      const msgs: JsMsg[] = [];
      try {
        const iter = await consumer.fetch({ max_messages: Math.max(1, Math.ceil(this.o.batchMax / RECORDS_PER_MESSAGE)), expires: 1000 });
        for await (const m of iter) msgs.push(m);
      } catch (err) {
        this.limiter.warn('fetch', { err: (err as Error).message }, 'writer: fetch from JetStream failed; retrying');
        await this.sleep(1000);
        continue;
      }
      if (msgs.length === 0) continue;
      const records: unknown[] = [];
      for (const m of msgs) {
        let v: unknown;
        try {
          v = JSON.parse(m.string());
        } catch {
          v = { k: 'unparseable', text: m.string().slice(0, 10_000) };
        }
        if (Array.isArray(v)) for (const r of v) records.push(r);
        else records.push(v);
      }
      try {
        const r = await this.o.writer.write(records);
        for (const m of msgs) m.ack();
        this.counters.batches++;
        this.counters.stored += r.stored;
        this.counters.deadLettered += r.deadLettered;
        if (r.deadLettered > 0) this.o.log.warn({ deadLettered: r.deadLettered, stored: r.stored }, 'writer: records refused and stored as dead letters');
        if (this.counters.failingFor > 0) this.o.log.info({ after: this.counters.failingFor }, 'writer: database writes resumed');
        this.counters.failingFor = 0;
      } catch (err) {
        this.counters.failures++;
        this.counters.failingFor++;
        const wait = Math.min(10_000, 500 * 2 ** Math.min(5, this.counters.failingFor - 1));
        for (const m of msgs) m.nak(wait);
        this.limiter.error('db', { code: 'E_DB_WRITE', err: (err as Error).message, batch: msgs.length, retryInMs: wait }, 'writer: database write failed; records stay in JetStream and are retried');
        await this.sleep(wait);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const wake = () => {
        clearTimeout(t);
        this.wakers.delete(wake);
        r();
      };
      const t = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const w of [...this.wakers]) w();
    await Promise.all(this.loops.map((l) => l.catch(() => undefined)));
  }
}
