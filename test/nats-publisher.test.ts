/**
 * The NATS publisher against a nats-server this test starts and stops itself (its own port),
 * so an outage can be produced for real.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { NatsPublisher } from '../adapters/nats/publisher.js';
import { eventually } from './helpers/eventually.js';
import { freePort } from './helpers/net.js';
import { memoryLogger } from './helpers/logger.js';

const port = await freePort();
const url = `nats://127.0.0.1:${port}`;
let server: ChildProcess | null = null;
async function startServer(): Promise<void> {
  server = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  await eventually(async () => {
    const nc = await connect({ servers: url, reconnect: false });
    await nc.close();
    return true;
  }, 10_000, 'nats-server up');
}
async function stopServer(): Promise<void> {
  const s = server;
  server = null;
  if (s === null) return;
  await new Promise((r) => {
    s.once('exit', r);
    s.kill('SIGKILL');
  });
}
t.teardown(stopServer);

t.test('nats publisher - publishes, counts drops while the server is down, and recovers by itself', async (t) => {
  await startServer();
  const pub = NatsPublisher.start(url, 'test', memoryLogger('fatal'));
  await pub.whenConnected();
  const sub = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  let received = 0;
  const s = sub.subscribe('t.pub');
  void (async () => {
    for await (const _ of s) received++;
  })();
  await sub.flush();
  for (let i = 0; i < 10; i++) pub.publish('t.pub', new Uint8Array([i]));
  await eventually(() => received === 10, 5_000, 'ten messages');
  t.equal(pub.counters.published, 10);

  await stopServer();
  await eventually(() => !pub.connected, 5_000, 'publisher sees the outage');
  for (let i = 0; i < 5; i++) pub.publish('t.pub', new Uint8Array([i]));
  t.equal(pub.counters.dropped, 5, 'publishes during the outage are dropped and counted');

  await startServer();
  await eventually(() => pub.connected, 15_000, 'publisher reconnected');
  await eventually(async () => {
    pub.publish('t.pub', new Uint8Array([42]));
    await new Promise((r) => setTimeout(r, 50));
    return received > 10;
  }, 15_000, 'delivery after the server is back');
  t.ok(received > 10, 'messages flow again after reconnect');
  await pub.close();
  await sub.close();
});

t.test('nats publisher - starting while the server is down does not block; drops are counted until it is up', async (t) => {
  await stopServer();
  const pub = NatsPublisher.start(url, 'test-down', memoryLogger('fatal'));
  pub.publish('t.down', new Uint8Array([1]));
  pub.publish('t.down', new Uint8Array([2]));
  t.equal(pub.counters.dropped, 2, 'publishes before the first connection are dropped and counted');
  t.notOk(pub.connected);
  await startServer();
  await eventually(() => pub.connected, 15_000, 'connected once the server is up');
  pub.publish('t.down', new Uint8Array([3]));
  t.equal(pub.counters.published, 1);
  await pub.close();
});
