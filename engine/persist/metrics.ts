/**
 * Persistence metrics (prom-client, the process registry): read from the running
 * persistence's counters at scrape time.
 */
import { Gauge } from 'prom-client';
import { registry } from '../metrics.js';
import type { PersistenceStatus } from './index.js';

let source: (() => PersistenceStatus) | null = null;

/** The persistence whose counters the metrics report (the last one started in this process). */
export function observePersistence(status: (() => PersistenceStatus) | null): void {
  source = status;
}

function gauge(name: string, help: string, read: (s: PersistenceStatus) => number | undefined): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      const s = source?.();
      const v = s === undefined ? undefined : read(s);
      if (v !== undefined) this.set(v);
    },
  });
}

gauge('aether_writer_queue_depth', 'Records waiting to be written: in-process queue depth, or records queued/in flight to JetStream', (s) => s.queueDepth);
gauge('aether_writer_records_stored_total', 'Records stored in PostgreSQL by this process', (s) => s.counters['writer.stored'] ?? s.counters['queue.stored']);
gauge('aether_writer_dead_letters_total', 'Records refused (invalid or rejected by the database) and stored as dead letters', (s) => s.counters['writer.deadLettered'] ?? s.counters['queue.deadLettered']);
gauge('aether_writer_failures_total', 'Writer batches that failed on a database error (retried)', (s) => s.counters['writer.failures'] ?? s.counters['queue.failures']);
gauge('aether_writer_thinned_total', 'Periodic snapshots not queued because the record queue was over half full', (s) => s.counters['publish.thinned'] ?? s.counters['queue.thinned']);
gauge('aether_writer_dropped_total', 'Records dropped because the record queue was full (the spill policy)', (s) => s.counters['publish.dropped'] ?? s.counters['queue.dropped']);
gauge('aether_records_published_total', 'Records stored in the JetStream RECORDS stream', (s) => s.counters['publish.published']);
gauge('aether_records_publish_retries_total', 'Record publishes retried (same message id)', (s) => s.counters['publish.retries']);
gauge('aether_database_up', 'PostgreSQL reachable and writes succeeding (1/0)', (s) => (s.database.configured ? (s.database.ok ? 1 : 0) : undefined));
gauge('aether_redis_up', 'Redis connected (1/0)', (s) => (s.redis.configured ? (s.redis.connected ? 1 : 0) : undefined));
gauge('aether_redis_pending_keys', 'Redis keys with a value not yet written (at most one per key)', (s) => (s.redis.configured ? s.redis.pendingKeys : undefined));
gauge('aether_redis_coalesced_total', 'Redis values superseded before they were written', (s) => s.counters['redis.coalesced']);
