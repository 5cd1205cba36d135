/**
 * The backup and restore commands of docs/persistence.md, run for real: a JetStream stream
 * through `aether-risk stream-backup` / `stream-restore`; the PostgreSQL schema through
 * pg_dump / pg_restore into another database; a base backup with pg_basebackup checked by
 * pg_verifybackup (on a cluster of this test's own, which allows replication connections).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, DeliverPolicy } from '@nats-io/jetstream';
import { migrate, PgWriter } from '../engine/persist/index.js';
import type { TradeRow } from '../engine/persist/records.js';
import { fillsSubject, streamName } from '../engine/switchboard.js';
import { memoryLogger } from './helpers/logger.js';
import { freePort } from './helpers/net.js';
import { runCli } from './helpers/spawn-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'aether-backup-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const log = memoryLogger('fatal');

t.test('JetStream: stream-backup then stream-restore gives back every message, subject, header and payload', async (t) => {
  const ns = `t_backup_${process.pid}`;
  const name = streamName(ns, 'FILLS');
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  t.teardown(async () => {
    await jsm.streams.delete(name).catch(() => undefined);
    await nc.close();
  });
  await jsm.streams.add({ name, subjects: [`${ns}.fills.v1.*`], duplicate_window: 120 * 1e9 });
  const js = jetstream(nc);
  const sent: { subject: string; data: string; id: string }[] = [];
  for (let i = 0; i < 300; i++) {
    const subject = fillsSubject(ns, i % 2 === 0 ? 'a1' : 'a2');
    const data = JSON.stringify({ fill_id: `b-${i}`, account: i % 2 === 0 ? 'a1' : 'a2', symbol: 'BTC/USD', side: 'buy', price: '60000.5', qty: '0.001' });
    sent.push({ subject, data, id: `b-${i}` });
    await js.publish(subject, data, { msgID: `b-${i}` });
  }
  const file = join(dir, 'fills.jsonl');
  const env = { NATS_URL: 'nats://127.0.0.1:4222', AETHER_LOG_LEVEL: 'info' };
  const b = await runCli(['stream-backup', '--stream', name, '--out', file], env);
  t.equal(b.code, 0, 'backup exits 0');
  t.equal(readFileSync(file, 'utf8').trim().split('\n').length, 301, 'configuration line + 300 messages');
  await jsm.streams.delete(name);
  const r = await runCli(['stream-restore', '--file', file], env);
  t.equal(r.code, 0, 'restore exits 0');
  const again = await runCli(['stream-restore', '--file', file], env);
  t.equal(again.code, 0, 'a second restore (interrupted and re-run) is harmless');
  const info = await jsm.streams.info(name);
  t.equal(info.state.messages, 300, 'every message back, none twice (message ids kept)');
  t.same(info.config.subjects, [`${ns}.fills.v1.*`], 'configuration restored');
  const consumer = await js.consumers.get(name, { deliver_policy: DeliverPolicy.All });
  const got: { subject: string; data: string; id: string | undefined }[] = [];
  for (let i = 0; i < 300; i++) {
    const m = await consumer.next({ expires: 5000 });
    if (m === null) break;
    got.push({ subject: m.subject, data: m.string(), id: m.headers?.get('Nats-Msg-Id') });
  }
  t.same(got, sent, 'same order, subjects, payloads and message ids');
  const missing = await runCli(['stream-backup', '--stream', 'NO_SUCH_STREAM', '--out', join(dir, 'x')], env);
  t.equal(missing.code, 1, 'a missing stream is an error');
  t.match(missing.stderr, /E_NATS/);
});

t.test('PostgreSQL: pg_dump of the schema restores into a new database with every row', async (t) => {
  const schema = `t_backup_${process.pid}`;
  const restoreDb = `t_restore_${process.pid}`;
  const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 2 });
  const admin = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres', max: 1 });
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.query(`DROP DATABASE IF EXISTS ${restoreDb}`);
    await pool.end();
    await admin.end();
  });
  await migrate(pool, log, { schema, compressAfterDays: 7, retentionDays: 90 });
  const t0 = Date.UTC(2026, 10, 26) * 1000;
  const rows: TradeRow[] = Array.from({ length: 2000 }, (_, i) => ({ k: 'trade', symbol: 'BK/USD', tradeId: i, side: 'buy', price: `1.${i}`, qty: '2.5', timeUs: t0 + i, recvUs: t0 + i }));
  await new PgWriter(pool, schema).write(rows);
  const dump = join(dir, 'aether.dump');
  // The commands of docs/persistence.md, "Logical backup".
  execFileSync('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-n', schema, '-Fc', '-f', dump]);
  execFileSync('createdb', ['-h', '127.0.0.1', '-U', 'postgres', restoreDb]);
  execFileSync('pg_restore', ['-h', '127.0.0.1', '-U', 'postgres', '-d', restoreDb, '--exit-on-error', dump]);
  const restored = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:5432/${restoreDb}`, max: 1 });
  t.teardown(() => restored.end());
  const q = async (p: pg.Pool) => (await p.query(`SELECT count(*)::int AS n, sum(price)::text AS s FROM ${schema}.trades`)).rows[0];
  t.same(await q(restored), await q(pool), 'same rows, same exact sums');
  t.same((await restored.query(`SELECT version FROM ${schema}.schema_migrations ORDER BY 1`)).rows.map((r) => r.version), [1, 2], 'migration history restored');
});

t.test('PostgreSQL: a base backup (pg_basebackup -X stream) verifies against its manifest', async (t) => {
  const version = execFileSync('ls', ['/etc/postgresql']).toString().trim().split('\n')[0]!;
  const cluster = `aether_backup_${process.pid}`;
  const port = await freePort();
  execFileSync('pg_createcluster', [version, cluster, '-p', String(port), '--start', '--', '--auth-host=trust', '--auth-local=trust'], { stdio: 'ignore' });
  t.teardown(() => execFileSync('pg_dropcluster', ['--stop', version, cluster], { stdio: 'ignore' }));
  const target = join(dir, 'base');
  execFileSync('pg_basebackup', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-D', target, '-X', 'stream', '-c', 'fast']);
  const out = execFileSync(`/usr/lib/postgresql/${version}/bin/pg_verifybackup`, [target]).toString();
  t.match(out, /backup successfully verified/);
});
