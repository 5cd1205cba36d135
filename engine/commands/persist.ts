/** `aether-risk migrate` and `aether-risk writer`. */
import { connect } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { ensureRecordsStream, JetStreamWriter } from '../persist/durable.js';
import { createPool, migrate, PgWriter } from '../persist/index.js';
import { runUntilSignal } from '../runtime.js';

function needDatabase(config: Config, log: Logger): string | null {
  if (config.databaseUrl === null) {
    log.error({ code: 'E_CONFIG', key: 'DATABASE_URL' }, 'DATABASE_URL is not set: nothing to migrate or write to');
    return null;
  }
  return config.databaseUrl;
}

export async function runMigrate(config: Config, log: Logger): Promise<number> {
  const url = needDatabase(config, log);
  if (url === null) return 2;
  const pool = createPool(url, log, 1);
  try {
    const r = await migrate(pool, log, { schema: config.dbSchema, compressAfterDays: config.compressAfterDays, retentionDays: config.retentionDays, refreshWindowHours: config.recordsMaxAgeHours + 24 });
    log.info({ ...r }, r.applied.length === 0 ? `schema ${config.dbSchema} is up to date (version ${r.current})` : `applied migration(s) ${r.applied.join(', ')}`);
    return 0;
  } catch (err) {
    log.error({ code: 'E_DB', err: (err as Error).message }, 'migration failed');
    return 1;
  } finally {
    await pool.end();
  }
}

export async function runWriter(config: Config, log: Logger): Promise<number> {
  const url = needDatabase(config, log);
  if (url === null) return 2;
  if (config.natsUrl === null) {
    log.error({ code: 'E_CONFIG', key: 'NATS_URL' }, 'NATS_URL is not set: the writer consumes the JetStream RECORDS stream');
    return 2;
  }
  const pool = createPool(url, log);
  // Wait for the database (migrations under the advisory lock), retrying while it is down.
  for (;;) {
    try {
      await migrate(pool, log, { schema: config.dbSchema, compressAfterDays: config.compressAfterDays, retentionDays: config.retentionDays, refreshWindowHours: config.recordsMaxAgeHours + 24 });
      break;
    } catch (err) {
      log.error({ code: 'E_DB', err: (err as Error).message }, 'database not ready: retrying in 2 s');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  const nc = await connect({ servers: config.natsUrl.split(','), name: 'aether-writer', maxReconnectAttempts: -1, reconnectTimeWait: 500, waitOnFirstConnect: true });
  await ensureRecordsStream(nc, config.natsNamespace, { maxBytes: config.recordsMaxBytes, maxAgeHours: config.recordsMaxAgeHours, replicas: config.streamReplicas });
  const writer = new JetStreamWriter({ nc, ns: config.natsNamespace, writer: new PgWriter(pool, config.dbSchema), log, batchMax: config.writerBatchMax, ackWaitMs: config.writerAckWaitMs });
  await writer.start();
  log.info({ schema: config.dbSchema, batchMax: config.writerBatchMax }, 'writer running: JetStream RECORDS → PostgreSQL');
  const stats = setInterval(() => log.info({ ...writer.counters }, 'writer'), 10_000);
  stats.unref();
  return runUntilSignal(
    {
      stop: async () => {
        clearInterval(stats);
        await writer.stop();
        await nc.drain().catch(() => undefined);
        await pool.end().catch(() => undefined);
      },
    },
    log,
  );
}
