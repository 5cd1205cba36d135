/**
 * The live Kraken client against the simulated exchange over real WebSocket connections:
 * subscribe errors, malformed frames, maintenance, pair status, refused and unreachable
 * venues, the connection budget.
 */
import t from 'tap';
import type { InstrumentActor } from '../actors/instrument.js';
import { KrakenClient } from '../adapters/kraken/client.js';
import { discoverPairs, usdOnlineSymbols } from '../adapters/kraken/discover.js';
import { defaultSimPairs, startSimExchange, type SimExchange } from '../adapters/kraken-sim/index.js';
import { systemClock, systemTimers } from '../engine/clock.js';
import { ConnectBudget } from '../engine/connect-budget.js';
import { eventually } from './helpers/eventually.js';
import { freePort } from './helpers/net.js';
import { memoryLogger } from './helpers/logger.js';

function client(url: string, symbols: string[], opts: { budget?: ConnectBudget; heartbeatTimeoutMs?: number; depth?: number } = {}) {
  const transitions: string[] = [];
  const c = new KrakenClient({
    url,
    symbols,
    depth: opts.depth ?? 10,
    simulated: true,
    heartbeatTimeoutMs: opts.heartbeatTimeoutMs ?? 3000,
    quietAfterMs: 10_000,
    budget: opts.budget ?? ConnectBudget.create(100),
    clock: systemClock,
    timers: systemTimers,
    log: memoryLogger('fatal'),
    onRisk: (a: InstrumentActor) => {
      const last = transitions.findLast((x) => x.startsWith(`${a.symbol}:`));
      const now = `${a.symbol}:${a.health}`;
      if (last !== now) transitions.push(now);
    },
  });
  const health = (s: string) => c.session.actors.get(s)?.health;
  return { c, health, transitions };
}

let sim: SimExchange;
t.before(async () => {
  sim = await startSimExchange({ pairs: defaultSimPairs(3), bookRatePerSymbol: 50, seed: 3 });
});
t.teardown(() => sim.close());

t.test('client - a pair Kraken does not list is REJECTED with the reason; the others go LIVE', async (t) => {
  const { c, health } = client(sim.url, ['BTC/USD', 'NOPE/USD', 'ETH/USD']);
  c.start();
  t.teardown(() => c.stop());
  await eventually(() => health('BTC/USD') === 'LIVE' && health('ETH/USD') === 'LIVE', 10_000, 'LIVE');
  t.equal(health('NOPE/USD'), 'REJECTED');
  t.match(c.session.actors.get('NOPE/USD')!.reason, /unknown pair/);
  t.equal(c.session.actors.get('NOPE/USD')!.risk.bid, null, 'no book, no prices');
});

t.test('client - malformed frames are counted and ignored; books stay LIVE', async (t) => {
  const { c, health } = client(sim.url, ['BTC/USD']);
  c.start();
  t.teardown(() => c.stop());
  await eventually(() => health('BTC/USD') === 'LIVE', 10_000, 'LIVE');
  const before = c.session.actors.get('BTC/USD')!.counters.checksumsVerified;
  sim.inject({ kind: 'malformed' });
  await eventually(() => c.session.counters.malformed >= 1, 5_000, 'malformed counted');
  await eventually(() => c.session.actors.get('BTC/USD')!.counters.checksumsVerified > before + 5, 5_000, 'still verifying');
  t.equal(health('BTC/USD'), 'LIVE');
  t.equal(c.counters.disconnects, 0, 'connection kept');
});

t.test('client - a dropped book message is caught by the next checksum and that symbol resyncs', async (t) => {
  const { c, health, transitions } = client(sim.url, ['BTC/USD', 'ETH/USD']);
  c.start();
  t.teardown(() => c.stop());
  await eventually(() => health('BTC/USD') === 'LIVE' && health('ETH/USD') === 'LIVE', 10_000, 'LIVE');
  sim.inject({ kind: 'drop-message', symbol: 'ETH/USD' });
  await eventually(() => c.session.actors.get('ETH/USD')!.counters.checksumMismatches === 1, 5_000, 'mismatch');
  await eventually(() => health('ETH/USD') === 'LIVE', 10_000, 'LIVE again');
  t.ok(transitions.includes('ETH/USD:RESYNCING'));
  t.notOk(transitions.includes('BTC/USD:RESYNCING'), 'BTC/USD untouched');
  t.equal(c.session.actors.get('ETH/USD')!.counters.resyncs, 1);
});

t.test('client - pair status from the instrument channel: HALTED while not online, rebuilt when back', async (t) => {
  const { c, health } = client(sim.url, ['SOL/USD']);
  c.start();
  t.teardown(async () => {
    sim.setPairStatus('SOL/USD', 'online');
    await c.stop();
  });
  await eventually(() => health('SOL/USD') === 'LIVE', 10_000, 'LIVE');
  sim.setPairStatus('SOL/USD', 'cancel_only');
  await eventually(() => health('SOL/USD') === 'HALTED', 5_000, 'HALTED');
  t.match(c.session.actors.get('SOL/USD')!.reason, /cancel_only/);
  sim.setPairStatus('SOL/USD', 'online');
  await eventually(() => health('SOL/USD') === 'LIVE', 10_000, 'LIVE again');
});

t.test('client - HTTP 429 on the upgrade is retried with backoff until the venue accepts', async (t) => {
  sim.inject({ kind: 'refuse-connections', count: 2 });
  const { c, health } = client(sim.url, ['BTC/USD']);
  c.start();
  t.teardown(() => c.stop());
  await eventually(() => health('BTC/USD') === 'LIVE', 15_000, 'LIVE after refusals');
  t.equal(c.counters.connectAttempts, 3, 'two refused attempts, then success');
});

t.test('client - an unreachable venue keeps every book STALE and retries only within the connection budget', async (t) => {
  const port = await freePort();
  const budget = ConnectBudget.create(4, 600_000);
  const { c, health } = client(`ws://127.0.0.1:${port}/v2`, ['BTC/USD'], { budget });
  c.start();
  t.teardown(() => c.stop());
  await eventually(() => c.counters.connectAttempts === 4, 10_000, 'four attempts');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(c.counters.connectAttempts, 4, 'no attempt beyond the budget');
  t.equal(budget.used(), 4);
  t.equal(health('BTC/USD'), 'STALE');
  t.match(c.session.actors.get('BTC/USD')!.reason, /refused/);
});

t.test('client - a pair that is not online when subscribed stays HALTED after its snapshot', async (t) => {
  sim.setPairStatus('ETH/USD', 'post_only');
  const { c, health } = client(sim.url, ['ETH/USD', 'BTC/USD']);
  c.start();
  t.teardown(async () => {
    await c.stop();
    sim.setPairStatus('ETH/USD', 'online');
  });
  await eventually(() => health('BTC/USD') === 'LIVE' && (c.session.actors.get('ETH/USD')!.counters.checksumsVerified ?? 0) > 0, 10_000, 'snapshots in');
  t.equal(health('ETH/USD'), 'HALTED', 'the snapshot built the book but did not make it LIVE');
  t.equal(c.session.actors.get('ETH/USD')!.risk.bid, null, 'no prices published while halted');
  sim.setPairStatus('ETH/USD', 'online');
  await eventually(() => health('ETH/USD') === 'LIVE', 10_000, 'LIVE once online');
});

t.test('client - a non-online system status keeps the connection (heartbeats via the instrument channel) and HALTED books', async (t) => {
  sim.setSystemStatus('cancel_only');
  const { c, health } = client(sim.url, ['BTC/USD'], { heartbeatTimeoutMs: 1500 });
  c.start();
  t.teardown(async () => {
    sim.setSystemStatus('online');
    await c.stop();
  });
  await eventually(() => health('BTC/USD') === 'HALTED', 10_000, 'HALTED');
  await new Promise((r) => setTimeout(r, 3500));
  t.equal(c.counters.connectAttempts, 1, 'no reconnect loop: the connection stays alive');
  t.equal(c.counters.deadConnections, 0);
  t.equal(health('BTC/USD'), 'HALTED');
  sim.setSystemStatus('online');
  await eventually(() => health('BTC/USD') === 'LIVE', 10_000, 'LIVE once the system is online');
});

t.test('client - maintenance: books leave LIVE (HALTED, then STALE when Kraken closes), reconnect no sooner than 5 s', async (t) => {
  const { c, health } = client(sim.url, ['BTC/USD']);
  c.start();
  t.teardown(() => c.stop());
  await eventually(() => health('BTC/USD') === 'LIVE', 10_000, 'LIVE');
  const attempts = c.counters.connectAttempts;
  sim.inject({ kind: 'maintenance' });
  await eventually(() => health('BTC/USD') === 'STALE' || health('BTC/USD') === 'HALTED', 5_000, 'not LIVE');
  const closedAt = Date.now();
  await eventually(() => c.counters.connectAttempts > attempts, 10_000, 'reconnect attempt');
  const waited = Date.now() - closedAt;
  t.ok(waited >= 4_900, `reconnected after ${waited} ms (≥ 5 s after maintenance)`);
  await eventually(() => health('BTC/USD') === 'LIVE', 10_000, 'LIVE again');
});

t.test('client - a depth Kraken refuses is surfaced per symbol as REJECTED with Kraken\'s error', async (t) => {
  // Config validation refuses such depths before start-up; this drives the client directly.
  const { c, health } = client(sim.url, ['BTC/USD', 'ETH/USD'], { depth: 27 });
  c.start();
  t.teardown(() => c.stop());
  await eventually(() => health('BTC/USD') === 'REJECTED' && health('ETH/USD') === 'REJECTED', 10_000, 'REJECTED');
  t.equal(c.session.actors.get('BTC/USD')!.reason, 'Subscription depth not supported');
  t.equal(c.session.counters.subscribeErrors >= 1, true);
  t.equal(c.counters.disconnects, 0, 'the connection stays open');
});

t.test('discovery - all-usd reads the instrument list and keeps online USD pairs with their precisions', async (t) => {
  const own = await startSimExchange({ pairs: defaultSimPairs(6), seed: 5 });
  t.teardown(() => own.close());
  own.setPairStatus('DOGE/USD', 'maintenance');
  const pairs = await discoverPairs(own.url, ConnectBudget.create(10));
  t.equal(pairs.length, 6);
  const btc = pairs.find((p) => p.symbol === 'BTC/USD')!;
  t.same([btc.pricePrecision, btc.qtyPrecision, btc.quote, btc.status], [1, 8, 'USD', 'online']);
  const usdOnline = usdOnlineSymbols(pairs);
  t.notOk(usdOnline.includes('DOGE/USD'), 'a pair under maintenance is left out');
  t.equal(usdOnline.length, 5);
});
