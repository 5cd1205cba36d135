/**
 * The engine end to end: simulated Kraken exchange (real WebSocket server) → worker-thread
 * actors → risk on real NATS. Each test file uses its own NATS namespace.
 */
import t from 'tap';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { MarketRisk } from '../actors/risk.js';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { createRiskDecoder } from '../adapters/nats/codec.js';
import { loadConfig } from '../engine/config.js';
import { startEngine } from '../engine/runtime.js';
import { riskWildcard, streamName } from '../engine/switchboard.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventually } from './helpers/eventually.js';
import { memoryLogger } from './helpers/logger.js';

const ns = `t_engine_${process.pid}`;
const pairs = defaultSimPairs(6);
const symbols = pairs.map((p) => p.symbol);
const sim = await startSimExchange({ pairs, bookRatePerSymbol: 40, seed: 11 });
const config = loadConfig({
  env: {},
  overrides: {
    natsUrl: 'nats://127.0.0.1:4222',
    natsNamespace: ns,
    workers: 2,
    bookDepth: 10,
    logLevel: 'error',
    logSummaryMs: 0,
    heartbeatTimeoutMs: 1500,
  },
});

// Subscriber: every record per symbol, in arrival order.
const nc: NatsConnection = await connect({ servers: 'nats://127.0.0.1:4222' });
const decoder = createRiskDecoder();
const received = new Map<string, MarketRisk[]>(symbols.map((s) => [s, []]));
const sub = nc.subscribe(riskWildcard(ns));
void (async () => {
  for await (const m of sub) {
    const r = decoder.decode(m.data);
    received.get(r.symbol)?.push(r);
  }
})();

const log = memoryLogger('error');
const engine = await startEngine(config, log, { krakenUrl: sim.url, symbols, simulated: true });
const sup = engine.supervisor;

t.teardown(async () => {
  await engine.stop();
  sub.unsubscribe();
  const jsm = await jetstreamManager(nc);
  for (const s of ['FILLS', 'DEADLETTER', 'EVENTS'] as const) await jsm.streams.delete(streamName(ns, s)).catch(() => undefined);
  await nc.close();
  await sim.close();
});

const last = (s: string) => received.get(s)!.at(-1);
const stat = (s: string) => sup.workers().flatMap((w) => w.stats?.symbols ?? []).find((x) => x.symbol === s);

t.test('engine - every instrument goes LIVE and publishes risk on NATS with contiguous sequence numbers', async (t) => {
  t.equal(sup.workerCount, 2, 'instruments are spread over two workers');
  await eventually(() => symbols.every((s) => (received.get(s)?.filter((r) => r.health === 'LIVE').length ?? 0) >= 20), 15_000, 'LIVE risk for every symbol');
  for (const s of symbols) {
    const recs = received.get(s)!;
    let gaps = 0;
    for (let i = 1; i < recs.length; i++) if (recs[i]!.epoch === recs[i - 1]!.epoch && recs[i]!.seq !== recs[i - 1]!.seq + 1) gaps++;
    t.equal(gaps, 0, `${s}: no sequence gap in ${recs.length} records`);
    const live = recs.filter((r) => r.health === 'LIVE');
    const r = live.at(-1)!;
    t.ok(r.simulated, `${s}: marked simulated`);
    t.ok(r.bid !== null && r.ask !== null && r.bid < r.ask, `${s}: bid < ask`);
    t.ok(r.spreadBps! > 0 && r.mid! > 0 && r.microprice! >= r.bid! && r.microprice! <= r.ask!, `${s}: spread, mid and microprice consistent`);
    t.ok(r.imbalance! >= -1 && r.imbalance! <= 1, `${s}: imbalance in [-1, 1]`);
    t.ok(r.bidDepth50bps! >= r.bidDepth10bps! && r.askDepth50bps! >= r.askDepth10bps!, `${s}: ±50 bps depth covers ±10 bps depth`);
    t.ok(r.eventTimeUs !== null && r.recvTimeUs > 0, `${s}: carries source event and receive times`);
  }
});

t.test('engine - every book message is checksum-verified', async (t) => {
  await eventually(() => symbols.every((s) => (stat(s)?.counters.bookMessages ?? 0) > 50), 10_000, 'book traffic');
  for (const s of symbols) {
    const c = stat(s)!.counters;
    t.equal(c.checksumMismatches, 0, `${s}: no mismatch`);
    t.equal(c.checksumsVerified + c.ignored, c.bookMessages, `${s}: ${c.checksumsVerified} of ${c.bookMessages} verified (${c.ignored} arrived before the snapshot)`);
  }
});

t.test('engine - a corrupt checksum resyncs that symbol alone while the others keep publishing', async (t) => {
  const victim = symbols[0]!;
  const others = symbols.slice(1);
  const before = new Map(others.map((s) => [s, last(s)!.seq]));
  const unsubBefore = sim.stats.unsubscribeRequests.get(`book:${victim}`) ?? 0;
  const victimRecords = received.get(victim)!.length;
  sim.inject({ kind: 'corrupt-checksum', symbol: victim });
  await eventually(() => received.get(victim)!.slice(victimRecords).some((r) => r.health === 'RESYNCING'), 10_000, 'RESYNCING published');
  await eventually(() => last(victim)?.health === 'LIVE', 10_000, 'victim LIVE again');
  await eventually(() => stat(victim)!.counters.checksumMismatches === 1, 5_000, 'mismatch counted');
  t.equal(stat(victim)!.counters.checksumMismatches, 1, 'one mismatch counted for the victim');
  t.equal((sim.stats.unsubscribeRequests.get(`book:${victim}`) ?? 0) - unsubBefore, 1, 'exactly one unsubscribe sent for the victim');
  for (const s of others) {
    t.equal(stat(s)!.counters.checksumMismatches, 0, `${s}: unaffected`);
    t.equal(sim.stats.unsubscribeRequests.get(`book:${s}`) ?? 0, 0, `${s}: not resubscribed`);
    t.ok(last(s)!.seq > before.get(s)!, `${s}: kept publishing`);
    t.equal(last(s)!.health, 'LIVE', `${s}: still LIVE`);
  }
  const resync = received.get(victim)!.slice(victimRecords).filter((r) => r.health === 'RESYNCING');
  t.ok(resync.every((r) => r.bid === null && r.ask === null && r.mid === null), 'RESYNCING records carry no prices');
});

t.test('engine - a killed worker is restarted and its instruments come back LIVE; the other worker is untouched', async (t) => {
  const [w0, w1] = sup.workers();
  const victims = w0!.symbols;
  const bystanders = w1!.symbols;
  const bystanderThread = w1!.threadId;
  const seqBefore = new Map(bystanders.map((s) => [s, last(s)!.seq]));
  const epochs = new Map(victims.map((s) => [s, last(s)!.epoch]));
  sup.send(w0!.index, { type: 'crash' });
  await eventually(() => sup.workers()[0]!.restarts === 1, 5_000, 'worker restart');
  t.equal(sup.workers()[0]!.lastRestartDelayMs, 200, 'restarted 200 ms after it died (the bound is 1 s)');
  await eventually(() => sup.workers()[0]!.generation === 2, 2_000, 'new worker spawned');
  // Records of the restarted actors carry a new epoch, and their sequence starts again at 1.
  await eventually(() => victims.every((s) => last(s)!.epoch !== epochs.get(s) && last(s)!.health === 'LIVE'), 15_000, 'victims LIVE after restart');
  for (const s of victims) {
    const fresh = received.get(s)!.filter((r) => r.epoch === last(s)!.epoch);
    t.equal(fresh[0]!.seq, 1, `${s}: new epoch starts at seq 1`);
    t.ok(fresh.every((r, i) => r.seq === i + 1), `${s}: contiguous in the new epoch`);
  }
  t.equal(sup.workers()[1]!.threadId, bystanderThread, 'the other worker kept its thread');
  t.equal(sup.workers()[1]!.restarts, 0, 'the other worker was not restarted');
  for (const s of bystanders) t.ok(last(s)!.seq > seqBefore.get(s)!, `${s}: kept publishing`);
});

t.test('engine - a dropped connection reconnects and rebuilds every book from fresh snapshots', async (t) => {
  const connectsBefore = sim.stats.connectionsTotal;
  const subsBefore = new Map(symbols.map((s) => [s, sim.stats.subscribeRequests.get(`book:${s}`) ?? 0]));
  const counts = new Map(symbols.map((s) => [s, received.get(s)!.length]));
  sim.inject({ kind: 'disconnect' });
  await eventually(() => symbols.every((s) => received.get(s)!.slice(counts.get(s)).some((r) => r.health === 'STALE')), 5_000, 'STALE published');
  await eventually(() => symbols.every((s) => last(s)?.health === 'LIVE'), 15_000, 'all LIVE again');
  t.ok(sim.stats.connectionsTotal >= connectsBefore + 2, 'both workers reconnected');
  for (const s of symbols) t.ok((sim.stats.subscribeRequests.get(`book:${s}`) ?? 0) > subsBefore.get(s)!, `${s}: subscribed again (fresh snapshot)`);
});

t.test('engine - a silent connection is detected as dead and replaced', async (t) => {
  const counts = new Map(symbols.map((s) => [s, received.get(s)!.length]));
  sim.inject({ kind: 'stall', ms: 2500 });
  await eventually(() => symbols.every((s) => received.get(s)!.slice(counts.get(s)).some((r) => r.health === 'STALE')), 6_000, 'STALE after heartbeat timeout');
  await eventually(() => symbols.every((s) => last(s)?.health === 'LIVE'), 15_000, 'LIVE again');
  t.pass('dead connection replaced');
});
