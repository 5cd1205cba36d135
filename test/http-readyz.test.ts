/**
 * /readyz under dependency loss, against real services: the engine reaches NATS through a TCP
 * proxy this test controls (closing it makes NATS unreachable to the engine alone), and the
 * simulated exchange is stopped and restarted on the same port. Each outage turns /readyz
 * into a 503 naming the failing component within 5 s, /healthz stays 200 throughout, and
 * readiness comes back after recovery.
 */
import t from 'tap';
import net from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { defaultSimPairs, startSimExchange, type SimExchange } from '../adapters/kraken-sim/index.js';
import { loadConfig } from '../engine/config.js';
import { startEngine } from '../engine/runtime.js';
import { streamName } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';
import { memoryLogger } from './helpers/logger.js';

/** A TCP proxy to the local NATS server that can be cut and restored on the same port. */
class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and cut every connection through the proxy. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server !== null) await new Promise((r) => server.close(r));
  }
}

const ns = `t_readyz_${process.pid}`;
const proxy = new TcpProxy(4222);
await proxy.start();
const pairs = defaultSimPairs(2);
const symbols = pairs.map((p) => p.symbol);
let sim: SimExchange = await startSimExchange({ pairs, bookRatePerSymbol: 20, seed: 9 });
const simPort = sim.port;
const config = loadConfig({
  env: {},
  overrides: {
    port: 0,
    gatewayHost: '127.0.0.1',
    natsUrl: `nats://127.0.0.1:${proxy.port}`,
    natsNamespace: ns,
    workers: 1,
    bookDepth: 10,
    logLevel: 'silent',
    logSummaryMs: 0,
    heartbeatTimeoutMs: 1500,
  },
});
const engine = await startEngine(config, memoryLogger('silent'), { krakenUrl: sim.url, symbols, simulated: true });
const port = engine.gateway!.port;

type Ready = { status: number; body: { status: string; failing: string[]; components: Record<string, { ok: boolean; detail?: Record<string, unknown> }> } };
const readyz = async (): Promise<Ready> => {
  const r = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: r.status, body: (await r.json()) as Ready['body'] };
};
const healthz = async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status;

t.teardown(async () => {
  await engine.stop();
  await sim.close();
  await proxy.stop();
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  for (const s of ['FILLS', 'DEADLETTER', 'EVENTS'] as const) await jsm.streams.delete(streamName(ns, s)).catch(() => undefined);
  await nc.close();
});

/** Poll /readyz until `pred`; returns the response and how long it took. */
async function until(pred: (r: Ready) => boolean, timeoutMs: number, what: string): Promise<{ r: Ready; ms: number }> {
  const t0 = Date.now();
  const r = await eventually(async () => {
    const x = await readyz();
    return pred(x) ? x : null;
  }, timeoutMs, what, 100);
  return { r, ms: Date.now() - t0 };
}

t.test('http readyz - 200 once every worker is connected, an instrument is LIVE and NATS is up; the body names each component', async (t) => {
  const { r } = await until((x) => x.status === 200, 20_000, 'ready');
  t.equal(r.body.status, 'ready');
  t.same(Object.keys(r.body.components).sort(), ['feed', 'nats', 'postgres', 'redis', 'workers']);
  t.equal(r.body.components.nats!.detail!.riskHost, 'connected');
  t.same(r.body.components.nats!.detail!.workers, [{ index: 0, connected: true }]);
  t.same(Object.keys(r.body.components.feed!.detail!.symbols as object), symbols);
});

t.test('http readyz - NATS unreachable turns /readyz to 503 naming nats within 5 s, and back to 200 after', async (t) => {
  await until((x) => x.status === 200, 20_000, 'ready before the outage');
  await proxy.stop();
  const down = await until((x) => x.status === 503, 5_000, '503 after NATS went away');
  t.ok(down.ms < 5_000, `503 after ${down.ms} ms`);
  t.same(down.r.body.failing, ['nats'], 'only nats fails');
  t.equal(down.r.body.status, 'not ready');
  t.equal(down.r.body.components.nats!.ok, false);
  t.ok((down.r.body.components.nats!.detail!.failing as string[]).length > 0, `and says what: ${JSON.stringify(down.r.body.components.nats!.detail!.failing)}`);
  t.equal(await healthz(), 200, '/healthz stays 200 (liveness does not depend on NATS)');
  await proxy.start();
  const up = await until((x) => x.status === 200, 15_000, '200 after NATS is back');
  t.comment(`ready again ${up.ms} ms after NATS came back`);
  t.equal(up.r.body.components.nats!.ok, true);
});

t.test('http readyz - the exchange going away turns /readyz to 503 naming the feed within 5 s, and back to 200 after it restarts', async (t) => {
  await until((x) => x.status === 200, 20_000, 'ready before the outage');
  await sim.close();
  const down = await until((x) => x.status === 503, 5_000, '503 after the exchange went away');
  t.ok(down.ms < 5_000, `503 after ${down.ms} ms`);
  t.ok(down.r.body.failing.includes('workers'), `workers failing: ${JSON.stringify(down.r.body.components.workers!.detail!.failing)}`);
  t.equal(await healthz(), 200, '/healthz stays 200');
  await eventually(async () => (await readyz()).body.failing.includes('feed'), 5_000, 'feed failing too once books are STALE');
  const feed = (await readyz()).body.components.feed!.detail!;
  t.equal(feed.live, 0);
  t.ok(Object.values(feed.symbols as Record<string, { health: string }>).every((s) => s.health === 'STALE'), 'every instrument STALE');
  sim = await startSimExchange({ port: simPort, pairs, bookRatePerSymbol: 20, seed: 9 });
  const up = await until((x) => x.status === 200, 30_000, '200 after the exchange is back');
  t.comment(`ready again ${up.ms} ms after the exchange restarted`);
  t.same(up.r.body.failing, []);
});
