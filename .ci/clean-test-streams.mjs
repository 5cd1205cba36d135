// Delete JetStream streams left by test or benchmark runs that were killed before their
// teardown (namespaces t_* and bench_*): JetStream reserves each stream's size limit on disk,
// so debris from earlier runs can make later stream creation fail. Never touches other streams.
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', timeout: 5000 });
try {
  const jsm = await jetstreamManager(nc);
  const names = [];
  for await (const s of jsm.streams.list()) names.push(s.config.name);
  let n = 0;
  for (const name of names) {
    if (/^AETHER_(t|bench)_/.test(name)) {
      await jsm.streams.delete(name).catch(() => undefined);
      n++;
    }
  }
  console.log(`ci: deleted ${n} leftover test stream(s)`);
} finally {
  await nc.close();
}
