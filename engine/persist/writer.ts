/**
 * The database writer's core: one batch of records → PostgreSQL in one transaction.
 *
 * Per record kind: COPY FROM STDIN into a session temp staging table, then
 * `INSERT … SELECT … ON CONFLICT DO NOTHING` into the real table, so a record delivered twice
 * (a redelivery, a retried publish, a writer that died after COMMIT but before its ack) is
 * stored once. A batch is all or nothing.
 *
 * Poison: a record that fails validation is dead-lettered before COPY. A record the database
 * refuses (a data or constraint error) fails its whole transaction; the batch is then split in
 * halves and each half retried, down to the single bad record, which is dead-lettered with its
 * SQLSTATE: the rest lands, at most about 2·log2(n) extra transactions.
 *
 * Anything else (connection refused, server gone, timeout) is thrown: the caller keeps the
 * batch (unacknowledged in JetStream, or at the head of the in-process queue) and retries
 * after a back-off.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import pgCopyStreams from 'pg-copy-streams';
import { copyLine, invalidReason, TABLES, type PersistRecord, type RecordKind } from './records.js';

const { from: copyFrom } = pgCopyStreams;

export interface WriteResult {
  stored: number;
  deadLettered: number;
  /** Transactions run (1 for a clean batch; more when a poison record was isolated). */
  transactions: number;
}

export interface WriterCounters {
  batches: number;
  records: number;
  deadLettered: number;
  failures: number;
}

/** SQLSTATE classes that mean "this data", not "this connection": 22 data exception, 23 integrity. */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23') || code === '54000');
}

export interface DeadLetter {
  kind: string;
  reason: string;
  sqlstate: string | null;
  record: string;
}

export class PgWriter {
  readonly counters: WriterCounters = { batches: 0, records: 0, deadLettered: 0, failures: 0 };
  private readonly staged = new WeakSet<PoolClient>();
  private readonly S: string;

  constructor(
    private readonly pool: Pool,
    readonly schema: string,
  ) {
    this.S = `"${schema}"`;
  }

  /**
   * Store a batch. `raw` records are validated here; invalid ones are dead-lettered. Throws
   * only for errors that are not about the data (the batch should be retried later).
   */
  async write(raw: readonly unknown[]): Promise<WriteResult> {
    const good: PersistRecord[] = [];
    const dead: DeadLetter[] = [];
    for (const r of raw) {
      const why = invalidReason(r);
      if (why === null) good.push(r as PersistRecord);
      else dead.push({ kind: kindOf(r), reason: `invalid ${why}`, sqlstate: null, record: safeJson(r) });
    }
    const result: WriteResult = { stored: 0, deadLettered: 0, transactions: 0 };
    const c = await this.pool.connect();
    // A server that goes away mid-batch also emits 'error' on the client: the failed query
    // reports it; the listener keeps it from being an uncaught exception.
    const onError = () => undefined;
    c.on('error', onError);
    let broken = false;
    try {
      await this.writeSet(c, good, dead, result);
      if (dead.length > 0) {
        await this.storeDeadLetters(c, dead);
        result.deadLettered = dead.length;
      }
    } catch (err) {
      broken = true;
      this.counters.failures++;
      throw err;
    } finally {
      c.off('error', onError);
      c.release(broken);
    }
    this.counters.batches++;
    this.counters.records += result.stored;
    this.counters.deadLettered += result.deadLettered;
    return result;
  }

  private async writeSet(c: PoolClient, recs: PersistRecord[], dead: DeadLetter[], result: WriteResult): Promise<void> {
    if (recs.length === 0) return;
    try {
      result.transactions++;
      await this.transaction(c, recs);
      result.stored += recs.length;
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (recs.length === 1) {
        const e = err as { code?: string; message?: string };
        dead.push({ kind: recs[0]!.k, reason: e.message ?? 'refused by the database', sqlstate: e.code ?? null, record: safeJson(recs[0]) });
        return;
      }
      const mid = recs.length >>> 1;
      await this.writeSet(c, recs.slice(0, mid), dead, result);
      await this.writeSet(c, recs.slice(mid), dead, result);
    }
  }

  private async transaction(c: PoolClient, recs: readonly PersistRecord[]): Promise<void> {
    const byKind = new Map<RecordKind, PersistRecord[]>();
    for (const r of recs) {
      let list = byKind.get(r.k);
      if (list === undefined) byKind.set(r.k, (list = []));
      list.push(r);
    }
    await this.ensureStaging(c); // outside the transaction: a rollback must not drop them
    await c.query('BEGIN');
    try {
      for (const [kind, list] of byKind) await this.copyKind(c, kind, list);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async ensureStaging(c: PoolClient): Promise<void> {
    if (this.staged.has(c)) return;
    for (const spec of Object.values(TABLES)) {
      await c.query(`CREATE TEMP TABLE IF NOT EXISTS aether_stage_${spec.table} (LIKE ${this.S}.${spec.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`);
    }
    this.staged.add(c);
  }

  private async copyKind(c: PoolClient, kind: RecordKind, list: readonly PersistRecord[]): Promise<void> {
    const spec = TABLES[kind];
    const cols = spec.columns.join(', ');
    const stage = `aether_stage_${spec.table}`;
    const chunks: string[] = [];
    let chunk = '';
    for (const r of list) {
      chunk += copyLine(spec.row(r));
      if (chunk.length > 1 << 20) {
        chunks.push(chunk);
        chunk = '';
      }
    }
    if (chunk !== '') chunks.push(chunk);
    await pipeline(Readable.from(chunks), c.query(copyFrom(`COPY ${stage} (${cols}) FROM STDIN`)));
    const target = `${this.S}.${spec.table}`;
    if (spec.conflict === 'nothing') {
      await c.query(`INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${stage} ON CONFLICT DO NOTHING`);
    } else {
      // The newest checkpoint per id wins (a late, older one never overwrites a newer one).
      await c.query(
        `INSERT INTO ${target} (${cols})
           SELECT DISTINCT ON (id) ${cols} FROM ${stage} ORDER BY id, fill_seq DESC, time DESC
         ON CONFLICT (id) DO UPDATE SET fill_seq = EXCLUDED.fill_seq, time = EXCLUDED.time, state = EXCLUDED.state
           WHERE ${target}.fill_seq < EXCLUDED.fill_seq OR (${target}.fill_seq = EXCLUDED.fill_seq AND ${target}.time < EXCLUDED.time)`,
      );
    }
  }

  private async storeDeadLetters(c: PoolClient, dead: readonly DeadLetter[]): Promise<void> {
    await c.query(
      `INSERT INTO ${this.S}.dead_letters (kind, reason, sqlstate, record)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
       ON CONFLICT (kind, md5(record)) DO NOTHING`,
      [dead.map((d) => d.kind), dead.map((d) => d.reason.slice(0, 1000)), dead.map((d) => d.sqlstate), dead.map((d) => d.record.replace(/\u0000/g, '\\u0000'))],
    );
  }
}

function kindOf(r: unknown): string {
  const k = (r as { k?: unknown } | null)?.k;
  return typeof k === 'string' ? k.slice(0, 32) : 'unknown';
}

function safeJson(r: unknown): string {
  try {
    return (JSON.stringify(r) ?? String(r)).slice(0, 100_000);
  } catch {
    return String(r).slice(0, 100_000);
  }
}
