/**
 * The risk model over real NATS/JetStream with the engine on the simulated exchange: fills
 * drive positions, duplicates apply once, bad fills are dead-lettered, pre-trade checks answer
 * over request/reply, a stale book denies only its instrument, a daily-loss breach halts the
 * account with a durable event a late subscriber still reads, admin commands need the token.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { Unpackr } from 'msgpackr';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { loadConfig } from '../engine/config.js';
import { startEngine } from '../engine/runtime.js';
import { adminSubject, deadLetterSubject, fillsSubject, portfolioSubject, preTradeSubject, stateEventSubject, streamName } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';
import { memoryLogger } from './helpers/logger.js';

const ns = `t_risk_${process.pid}`;
const TOKEN = 'test-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'aether-limits-'));
const limitsFile = join(dir, 'limits.json');
writeFileSync(
  limitsFile,
  JSON.stringify({
    defaults: { defaultInstrument: { maxOrderQty: 1000 } },
    accounts: { lossy: { maxDailyLoss: 1 } },
    stress: [
      { name: 'all -10%', shocks: { '*': -0.1 } },
      { name: 'BTC -20%, others by beta', driver: 'BTC/USD', shock: -0.2 },
    ],
  }),
);

const pairs = defaultSimPairs(3); // BTC/USD, ETH/USD, SOL/USD
const sim = await startSimExchange({ pairs, bookRatePerSymbol: 20, seed: 9 });
const config = loadConfig({
  env: {},
  overrides: { natsUrl: 'nats://127.0.0.1:4222', natsNamespace: ns, workers: 1, bookDepth: 25, logLevel: 'error', logSummaryMs: 0, limitsFile, adminToken: TOKEN, volIntervalMs: 200 },
});
const engine = await startEngine(config, memoryLogger('fatal'), { krakenUrl: sim.url, symbols: pairs.map((p) => p.symbol), simulated: true });
const nc: NatsConnection = await connect({ servers: 'nats://127.0.0.1:4222' });
const js = jetstream(nc);
const host = (await engine.riskHost)!;

t.teardown(async () => {
  await engine.stop();
  const jsm = await jetstreamManager(nc);
  for (const s of ['FILLS', 'DEADLETTER', 'EVENTS'] as const) await jsm.streams.delete(streamName(ns, s)).catch(() => undefined);
  await nc.close();
  await sim.close();
});

const request = async (subject: string, body: unknown) => JSON.parse((await nc.request(subject, JSON.stringify(body), { timeout: 5000 })).string()) as Record<string, unknown>;
const check = (body: Record<string, unknown>) => request(preTradeSubject(ns), body);
let seq = 0;
const publishFill = (f: Record<string, unknown>) => js.publish(fillsSubject(ns, String(f.account)), JSON.stringify(f), { msgID: `pub-${++seq}` });

await eventually(() => pairs.every((p) => host.market(p.symbol)?.health === 'LIVE'), 15_000, 'books LIVE on the board');

t.test('fills drive positions and PnL; a redelivered fill is applied once', async (t) => {
  const f1 = { fill_id: 'A-1', account: 'desk1', symbol: 'BTC/USD', side: 'buy', price: '60000', qty: '0.5', fee: '3' };
  await publishFill(f1);
  await publishFill(f1); // the same fill again (a trading system's retry): changes nothing
  await publishFill({ fill_id: 'A-2', account: 'desk1', symbol: 'BTC/USD', side: 'sell', price: '61000', qty: '0.2', fee: '1' });
  await eventually(() => host.counters.fillsApplied >= 2 && host.counters.fillsDuplicate >= 1, 10_000, 'fills applied');
  const r = await request(adminSubject(ns, 'positions'), { account: 'desk1' });
  const p = (r.positions as Record<string, number>[])[0]!;
  t.equal(p.qty, 0.3, '0.5 − 0.2');
  t.equal(p.avgEntry, 60000);
  t.equal(p.realizedPnl, 0.2 * 1000 - 4, 'realized 200 minus fees 4');
  t.equal(host.counters.fillsDuplicate, 1, 'duplicate counted, not applied');
  t.ok(typeof r.var99 === 'number' && typeof r.grossExposure === 'number' && (r.grossExposure as number) > 0);
  t.ok((r.reflects as Record<string, { seq: number }>)['BTC/USD']!.seq > 0, 'says which instrument sequence it reflects');
  t.ok(typeof p.liquidationCost === 'number' && p.liquidationCost >= 0, 'liquidation cost from live depth');
  t.ok('var99' in p && 'es99' in p && 'limitUse' in p, 'per-position VaR/ES and limit use');
});

t.test('historical VaR and stress scenarios run in the worker pool', async (t) => {
  await eventually(() => (host as unknown as { history: unknown[] }).history.length >= 5, 10_000, 'return samples');
  await host.runHistorical();
  const r = await request(adminSubject(ns, 'positions'), { account: 'desk1' });
  const h = r.historical as { scenarios: number; var99: number; stress: { name: string; pnl: number }[] };
  t.ok(h !== null && h.scenarios >= 1, 'historical result present');
  t.ok(h.var99 >= 0);
  const notional = (r.positions as { notional: number }[])[0]!.notional;
  const all = h.stress.find((s) => s.name === 'all -10%')!;
  t.ok(Math.abs(all.pnl - -0.1 * notional) < 1e-2 * Math.abs(notional), `all -10%: ${all.pnl} on ${notional} (the mid may move between the run and the read)`);
  const beta = h.stress.find((s) => s.name === 'BTC -20%, others by beta')!;
  t.ok(Math.abs(beta.pnl - -0.2 * notional) < 1e-2 * Math.abs(notional), 'the driver itself moves by the full shock');
});

t.test('a fill for an unknown symbol lands on the dead-letter subject with the reason', async (t) => {
  const jsm = await jetstreamManager(nc);
  const before = host.counters.fillsDeadLettered;
  await publishFill({ fill_id: 'X-1', account: 'desk1', symbol: 'NOPE/USD', side: 'buy', price: '1', qty: '1' });
  await publishFill({ fill_id: 'X-2', account: 'desk1', symbol: 'BTC/USD', side: 'hold', price: '1', qty: '1' });
  await eventually(() => host.counters.fillsDeadLettered === before + 2, 10_000, 'dead-lettered');
  const c = await jsm.consumers.add(streamName(ns, 'DEADLETTER'), { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
  const consumer = await js.consumers.get(streamName(ns, 'DEADLETTER'), c.name);
  const seen: Record<string, unknown>[] = [];
  for (let i = 0; i < 2; i++) {
    const m = await consumer.next({ expires: 5000 });
    if (m !== null) seen.push(m.json());
  }
  t.same(seen.map((s) => [s.reason, s.field]), [['UNKNOWN_SYMBOL', 'symbol'], ['BAD_SIDE', 'side']]);
  t.equal(deadLetterSubject(ns, 'fills').endsWith('deadletter.v1.fills'), true);
});

t.test('pre-trade checks answer over request/reply with reasons and figures', async (t) => {
  const ok = await check({ account: 'desk2', symbol: 'ETH/USD', side: 'buy', qty: '1' });
  t.equal(ok.accept, true);
  const fig = ok.figures as Record<string, number>;
  t.ok(fig.projectedPosition === 1 && fig.mid! > 0);
  const bad = await check({ account: 'desk2', symbol: 'ETH/USD', side: 'buy' });
  t.same((bad.reasons as Record<string, string>[])[0], { code: 'INVALID_ORDER', field: 'qty', detail: 'qty must be a positive decimal' }, 'a malformed request names the field');
  const notJson = JSON.parse((await nc.request(preTradeSubject(ns), 'not json', { timeout: 5000 })).string());
  t.equal(notJson.reasons[0].code, 'INVALID_ORDER', 'not even JSON: still a reply, never a timeout');
  const unknown = await check({ account: 'desk2', symbol: 'NOPE/USD', side: 'buy', qty: '1' });
  t.equal((unknown.reasons as Record<string, string>[])[0]!.code, 'UNKNOWN_SYMBOL');
  const big = await check({ account: 'desk2', symbol: 'ETH/USD', side: 'buy', qty: '5000' });
  t.ok((big.reasons as Record<string, string>[]).some((r) => r.code === 'MAX_ORDER_QTY'), 'limits from the limits file apply');
});

t.test('a book that is not LIVE denies orders in that instrument only', async (t) => {
  sim.setPairStatus('SOL/USD', 'cancel_only');
  t.teardown(() => sim.setPairStatus('SOL/USD', 'online'));
  await eventually(() => host.market('SOL/USD')?.health === 'HALTED', 10_000, 'SOL/USD halted on the board');
  const sol = await check({ account: 'desk3', symbol: 'SOL/USD', side: 'buy', qty: '1' });
  t.equal(sol.accept, false);
  t.ok((sol.reasons as Record<string, string>[]).some((r) => r.code === 'BOOK_NOT_LIVE'));
  const eth = await check({ account: 'desk3', symbol: 'ETH/USD', side: 'buy', qty: '1' });
  t.equal(eth.accept, true, 'other instruments unaffected');
});

t.test('a daily-loss breach halts the account; a late subscriber still reads the event; release needs the token', async (t) => {
  const mid = host.market('BTC/USD')!.mid!;
  // Bought far above the market: an immediate loss larger than the 1.0 limit.
  await publishFill({ fill_id: 'L-1', account: 'lossy', symbol: 'BTC/USD', side: 'buy', price: String(Math.round(mid * 1.01)), qty: '0.1' });
  await eventually(() => host.accounts.get('lossy')?.state === 'HALTED', 10_000, 'HALTED');
  await eventually(() => host.counters.eventsPublished >= 1, 5_000, 'event stored');
  const denied = await check({ account: 'lossy', symbol: 'BTC/USD', side: 'sell', qty: '0.1' });
  t.ok((denied.reasons as Record<string, string>[]).some((r) => r.code === 'TRADING_HALTED'));
  // A subscriber that starts now reads the transition from the stream.
  const jsm = await jetstreamManager(nc);
  const c = await jsm.consumers.add(streamName(ns, 'EVENTS'), { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: stateEventSubject(ns, 'lossy') });
  const m = await (await js.consumers.get(streamName(ns, 'EVENTS'), c.name)).next({ expires: 5000 });
  t.ok(m !== null, 'event read from the stream');
  const e = m!.json<Record<string, unknown>>();
  t.same([e.from, e.to, e.manual], ['ACTIVE', 'HALTED', false]);
  t.match(String(e.reason), /daily loss/);
  const refused = await request(adminSubject(ns, 'release'), { account: 'lossy', token: 'wrong' });
  t.equal(refused.ok, false, 'wrong token refused');
  t.equal(host.accounts.get('lossy')!.state, 'HALTED');
  const released = await request(adminSubject(ns, 'release'), { account: 'lossy', token: TOKEN });
  t.equal(released.ok, true);
  // The loss is still there, so the released account halts again at once: both transitions
  // are on the stream, the manual release and the automatic re-halt.
  const c2 = await jsm.consumers.add(streamName(ns, 'EVENTS'), { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: stateEventSubject(ns, 'lossy') });
  const reader = await js.consumers.get(streamName(ns, 'EVENTS'), c2.name);
  const seen: unknown[][] = [];
  await eventually(async () => {
    const e2 = await reader.next({ expires: 1000 });
    if (e2 !== null) {
      const x = e2.json<Record<string, unknown>>();
      seen.push([x.from, x.to, x.manual]);
    }
    return seen.length >= 3;
  }, 10_000, 'three events');
  t.same(seen, [['ACTIVE', 'HALTED', false], ['HALTED', 'ACTIVE', true], ['ACTIVE', 'HALTED', false]]);
});

t.test('manual halt and account risk on the portfolio subject', async (t) => {
  const r = await request(adminSubject(ns, 'halt'), { account: 'desk2', token: TOKEN, reason: 'operator test' });
  t.same([r.ok, r.state], [true, 'HALTED']);
  const sub = nc.subscribe(portfolioSubject(ns, 'desk2'), { max: 1 });
  const unpack = new Unpackr({ useRecords: false });
  for await (const m of sub) {
    const p = unpack.unpack(m.data) as Record<string, unknown>;
    t.equal(p.state, 'HALTED');
    t.equal(p.simulated, true, 'marked simulated');
    t.ok(Array.isArray(p.positions));
  }
});

t.test('operator CLI: check, positions, halt and release over NATS', async (t) => {
  const { runCli } = await import('./helpers/spawn-cli.js');
  const env = { NATS_URL: 'nats://127.0.0.1:4222', AETHER_NATS_NAMESPACE: ns, AETHER_ADMIN_TOKEN: TOKEN, AETHER_LOG_LEVEL: 'error' };
  const c = await runCli(['check', '--account', 'cli1', '--symbol', 'ETH/USD', '--side', 'buy', '--qty', '0.5'], env);
  t.equal(c.code, 0, c.stderr);
  t.equal(JSON.parse(c.stdout).accept, true);
  const h = await runCli(['halt', '--account', 'cli1', '--reason', 'end of day'], env);
  t.equal(h.code, 0, h.stderr);
  t.same([JSON.parse(h.stdout).state], ['HALTED']);
  const p = await runCli(['positions', '--account', 'cli1'], env);
  t.equal(JSON.parse(p.stdout).state, 'HALTED');
  const r = await runCli(['release', '--account', 'cli1'], env);
  t.equal(JSON.parse(r.stdout).state, 'ACTIVE');
  const noToken = await runCli(['halt', '--account', 'cli1', '--reason', 'x'], { ...env, AETHER_ADMIN_TOKEN: '' });
  t.equal(noToken.code, 2, 'halt without a token is refused before sending');
  const missing = await runCli(['check', '--account', 'cli1'], env);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /--symbol is required/);
});

t.test('limits reload through the authenticated admin command', async (t) => {
  const before = await check({ account: 'reload1', symbol: 'ETH/USD', side: 'buy', qty: '2' });
  t.equal(before.accept, true);
  const bad = await request(adminSubject(ns, 'limits'), { token: TOKEN, limits: { defaults: { maxGrossExposure: 'lots' } } });
  t.equal(bad.ok, false, 'an invalid document is refused');
  t.match(String(bad.error), /maxGrossExposure: must be a number/);
  const noAuth = await request(adminSubject(ns, 'limits'), { limits: { defaults: { defaultInstrument: { maxOrderQty: 1 } } } });
  t.equal(noAuth.ok, false, 'no token, no reload');
  const ok = await request(adminSubject(ns, 'limits'), { token: TOKEN, limits: { defaults: { defaultInstrument: { maxOrderQty: 1 } } } });
  t.equal(ok.ok, true);
  const after = await check({ account: 'reload1', symbol: 'ETH/USD', side: 'buy', qty: '2' });
  t.ok((after.reasons as { code: string }[]).some((r) => r.code === 'MAX_ORDER_QTY'), 'the new limit applies to an existing account');
  await request(adminSubject(ns, 'limits'), { token: TOKEN }); // back to the file
});

t.test('an accepted order reserves its exposure until released', async (t) => {
  const { releaseOrder } = await import('../adapters/nats/client.js');
  await request(adminSubject(ns, 'limits'), { token: TOKEN, limits: { defaults: { defaultInstrument: { maxPosition: 1 } } } });
  t.teardown(() => request(adminSubject(ns, 'limits'), { token: TOKEN }));
  const first = await check({ account: 'res1', symbol: 'ETH/USD', side: 'buy', qty: '0.8', order_id: 'r-1' });
  t.equal(first.accept, true);
  const second = await check({ account: 'res1', symbol: 'ETH/USD', side: 'buy', qty: '0.8', order_id: 'r-2' });
  t.ok((second.reasons as { code: string }[]).some((r) => r.code === 'MAX_POSITION'), 'the first order still reserves 0.8');
  t.same(await releaseOrder(nc, 'res1', 'r-1', { namespace: ns }), { ok: true });
  const third = await check({ account: 'res1', symbol: 'ETH/USD', side: 'buy', qty: '0.8', order_id: 'r-3' });
  t.equal(third.accept, true, 'released: room again');
  t.equal((await releaseOrder(nc, 'res1', 'nope', { namespace: ns })).ok, false);
});
