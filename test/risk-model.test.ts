/**
 * The risk model's domain logic on fixed data: positions and PnL from fills, idempotency,
 * volatility, parametric and historical VaR/ES against independent computations, liquidity
 * walks, trading states and every pre-trade reason code.
 */
import t from 'tap';
import fc from 'fast-check';
import { AccountActor, DenyReason, NO_INSTRUMENT_LIMITS, parseOrder, TradingState, type AccountLimits, type MarketView, type Order } from '../actors/account.js';
import { LevelBatch, Side } from '../actors/levels.js';
import { OrderBook } from '../actors/book.js';
import { costToTrade } from '../actors/liquidity.js';
import { FillLedger, isFillError, parseFill, Position, type Fill } from '../actors/position.js';
import { BookHealth } from '../actors/risk.js';
import { BASE_LIMITS } from '../engine/limits.js';
import { EwmaCovariance, historicalVar, normalDensity, parametricEs, parametricVar, Z } from '../actors/var.js';
import { EwmaVolatility, SECONDS_PER_YEAR } from '../actors/volatility.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-300, Math.abs(b));
let fillSeq = 0;
const fill = (side: number, price: number, qty: number, fee = 0, symbol = 'BTC/USD'): Fill => ({ fillId: `f${++fillSeq}`, account: 'A', symbol, side, price, lots: Math.round(qty * 1e8), fee, timeUs: 1 });

t.test('position - average cost, fees, partial close and flip, to hand-computed values', async (t) => {
  const p = new Position('BTC/USD', 8);
  p.apply(fill(1, 100, 1, 0.1));
  p.apply(fill(1, 110, 1, 0.1));
  t.equal(p.qty, 2);
  t.equal(p.avgEntry, 105);
  t.equal(p.realizedPnl, -0.2);
  p.apply(fill(-1, 120, 1.5, 0.2)); // realises 1.5 × 15 = 22.5
  t.equal(p.qty, 0.5);
  t.equal(p.avgEntry, 105, 'a partial close keeps the average entry');
  t.ok(rel(p.realizedPnl, 22.5 - 0.4) < 1e-12, `realized ${p.realizedPnl}`);
  p.apply(fill(-1, 90, 1, 0.05)); // closes 0.5 at −15 each (−7.5), opens short 0.5 at 90
  t.equal(p.qty, -0.5);
  t.equal(p.avgEntry, 90, 'a flip opens the remainder at the fill price');
  t.ok(rel(p.realizedPnl, 22.5 - 7.5 - 0.45) < 1e-12, `realized ${p.realizedPnl}`);
  t.equal(p.unrealizedAt(80), 5, 'short 0.5 from 90 marked at 80');
  p.apply(fill(1, 95, 0.5));
  t.equal(p.lots, 0, 'closed exactly: integer lots, no float residue');
  t.equal(p.avgEntry, 0);
  t.equal(p.unrealizedAt(1000), 0);
  // 0.1 + 0.2 − 0.3 in lots is exactly flat
  const q = new Position('ETH/USD', 8);
  for (const [s, x] of [[1, '0.1'], [1, '0.2'], [-1, '0.3']] as const) {
    const f = parseFill({ fill_id: `e${x}${s}`, account: 'A', symbol: 'ETH/USD', side: s > 0 ? 'buy' : 'sell', price: '2000', qty: x }, () => 8);
    if (isFillError(f)) throw new Error(f.detail);
    q.apply(f);
  }
  t.equal(q.lots, 0, '0.1 + 0.2 − 0.3 is exactly zero');
});

t.test('fills - malformed and unknown-symbol fills are rejected with a reason and the field', async (t) => {
  const prec = (s: string) => (s === 'BTC/USD' ? 8 : undefined);
  const base = { fill_id: 'x1', account: 'A', symbol: 'BTC/USD', side: 'buy', price: '100', qty: '0.5', fee: '0.01' };
  const ok = parseFill(base, prec);
  t.notOk(isFillError(ok));
  t.equal((ok as Fill).lots, 50_000_000);
  const cases: [Record<string, unknown> | unknown, string, string | null][] = [
    ['not an object', 'MALFORMED', null],
    [{ ...base, symbol: 'NOPE/USD' }, 'UNKNOWN_SYMBOL', 'symbol'],
    [{ ...base, side: 'long' }, 'BAD_SIDE', 'side'],
    [{ ...base, price: '-1' }, 'BAD_PRICE', 'price'],
    [{ ...base, qty: 'abc' }, 'BAD_QTY', 'qty'],
    [{ ...base, qty: '0.000000001' }, 'QTY_PRECISION', 'qty'],
    [{ ...base, fee: 'x' }, 'BAD_FEE', 'fee'],
    [{ ...base, fill_id: undefined }, 'MISSING_FIELD', 'fill_id'],
  ];
  for (const [msg, reason, field] of cases) {
    const r = parseFill(msg, prec);
    t.ok(isFillError(r) && r.reason === reason && r.field === field, `${reason} (${field})`);
  }
});

t.test('fills - the ledger applies each fill id once and stays bounded', async (t) => {
  const l = new FillLedger(3);
  t.ok(l.add('a'));
  t.notOk(l.add('a'), 'duplicate refused');
  l.add('b');
  l.add('c');
  l.add('d');
  t.equal(l.size, 3);
  t.equal(l.evicted, 1);
  t.notOk(l.has('a'), 'oldest id left the window');
});

t.test('volatility - EWMA of log returns on a fixed clock, annualized and per horizon', async (t) => {
  const v = new EwmaVolatility(0.94, 1);
  const mids = [100, 101, 100.5, 102, 101, 103];
  let want = 0;
  let n = 0;
  for (let i = 0; i < mids.length; i++) {
    v.sample(mids[i]!);
    if (i > 0) {
      const r = Math.log(mids[i]! / mids[i - 1]!);
      want = n === 0 ? r * r : 0.94 * want + 0.06 * r * r;
      n++;
    }
  }
  t.ok(rel(v.variance, want) < 1e-12);
  t.equal(v.samples, 5);
  t.ok(rel(v.sigma(3600), Math.sqrt(want * 3600)) < 1e-12, '1 h horizon');
  t.ok(rel(v.annualized(), Math.sqrt(want * SECONDS_PER_YEAR)) < 1e-12);
  v.sample(null);
  v.sample(104);
  t.equal(v.samples, 5, 'no return across a gap in the mid');
});

// Independent numerics: normal CDF and tail expectation by Simpson integration of the density.
function simpson(f: (x: number) => number, a: number, b: number, n = 20000): number {
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += f(a + i * h) * (i % 2 ? 4 : 2);
  return (s * h) / 3;
}
const phi = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
function quantile(p: number): number {
  let lo = 0;
  let hi = 5;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    const tail = simpson(phi, mid, 40);
    if (tail > 1 - p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

t.test('VaR/ES - parametric figures match an independent numerical computation to 1e-9', async (t) => {
  const value = 250_000;
  const sigma = 0.0123;
  for (const c of [0.95, 0.99] as const) {
    const z = quantile(c);
    t.ok(rel(Z[c], z) < 1e-9, `z(${c}) = ${Z[c]} vs bisection ${z}`);
    t.ok(rel(parametricVar(value, sigma, c), z * sigma * value) < 1e-9, `VaR ${c}`);
    const tailMean = simpson((x) => x * phi(x), z, 40) / (1 - c);
    t.ok(rel(parametricEs(-value, sigma, c), tailMean * sigma * value) < 1e-9, `ES ${c} (short position, same magnitude)`);
  }
  t.ok(rel(normalDensity(0), 1 / Math.sqrt(2 * Math.PI)) < 1e-15);
});

t.test('VaR - portfolio σ from an EWMA covariance counts correlation', async (t) => {
  const c = new EwmaCovariance(2, 0.9, 1);
  const rs = [[0.01, 0.008], [-0.02, -0.015], [0.005, 0.006], [0.012, 0.01]];
  const m = [0, 0, 0, 0];
  rs.forEach((r, k) => {
    const outer = [r[0]! * r[0]!, r[0]! * r[1]!, r[1]! * r[0]!, r[1]! * r[1]!];
    for (let i = 0; i < 4; i++) m[i] = k === 0 ? outer[i]! : 0.9 * m[i]! + 0.1 * outer[i]!;
    c.update(Float64Array.from(r));
  });
  for (let i = 0; i < 4; i++) t.ok(rel(c.cov[i]!, m[i]!) < 1e-12, `cov[${i}]`);
  const w = Float64Array.from([1000, -500]);
  const q = w[0]! * (m[0]! * w[0]! + m[1]! * w[1]!) + w[1]! * (m[2]! * w[0]! + m[3]! * w[1]!);
  t.ok(rel(c.portfolioSigmaValue(w, 60), Math.sqrt(q * 60)) < 1e-12, 'σ of the hedged portfolio over 60 s');
  const longOnly = c.portfolioSigmaValue(Float64Array.from([1000, 500]), 1);
  const hedged = c.portfolioSigmaValue(w, 1);
  t.ok(hedged < longOnly, 'a hedge with a correlated asset lowers σ');
  t.ok(c.correlation(0, 1) > 0.9, 'strongly correlated returns');
});

t.test('VaR - historical simulation takes the loss quantile and the tail mean', async (t) => {
  const w = Float64Array.from([100]);
  const scenarios = Array.from({ length: 100 }, (_, i) => Float64Array.from([Math.log(1 + (i - 50) / 1000)]));
  const h = historicalVar(w, scenarios, 0.95);
  // Losses are 0.050 … −0.049 × 100: the 5 largest are 5.0, 4.9, 4.8, 4.7, 4.6.
  t.ok(rel(h.var, 4.6) < 1e-9);
  t.ok(rel(h.es, (5 + 4.9 + 4.8 + 4.7 + 4.6) / 5) < 1e-9);
});

function bookWith(levels: { bids: [string, string][]; asks: [string, string][] }, depth = 10): OrderBook {
  const b = new OrderBook(depth, 1, 8);
  const batch = new LevelBatch();
  batch.isSnapshot = true;
  const push = (side: number, p: string, q: string) => {
    const [pi, pf = ''] = p.split('.');
    const [qi, qf = ''] = q.split('.');
    batch.push(side, Number(pi), Number(pf || 0), pf.length, Number(qi), Number(qf || 0), qf.length);
  };
  for (const [p, q] of levels.bids) push(Side.BID, p, q);
  for (const [p, q] of levels.asks) push(Side.ASK, p, q);
  b.apply(batch);
  return b;
}

t.test('liquidity - walking the book gives average price, slippage and insufficiency', async (t) => {
  const book = bookWith({ bids: [['99.0', '1'], ['98.0', '2']], asks: [['101.0', '1'], ['102.0', '2']] });
  const c = costToTrade(book, 1, 2); // 1 @ 101 + 1 @ 102
  t.equal(c.avgPrice, 101.5);
  t.ok(rel(c.slippageBps, (1.5 / 100) * 1e4) < 1e-12);
  t.ok(rel(c.slippageQuote, 3) < 1e-12);
  t.notOk(c.insufficient);
  const s = costToTrade(book, -1, 5);
  t.equal(s.filled, 3);
  t.ok(s.insufficient, 'only 3 on the bid side');
  t.ok(rel(s.avgPrice, (99 + 196) / 3) < 1e-12);
});

// ------------------------------------------------------------------ account / pre-trade

function market(symbols: Record<string, { mid: number | null; health?: BookHealth; book?: OrderBook | null }>) {
  const views = new Map<string, MarketView>();
  for (const [s, v] of Object.entries(symbols)) views.set(s, { symbol: s, health: v.health ?? BookHealth.LIVE, mid: v.mid, qtyPrecision: 8, book: v.book ?? null });
  return { views, port: { market: (s: string) => views.get(s) } };
}
const flatRisk = { portfolioSigmaValue: (e: ReadonlyMap<string, number>, h: number) => Math.sqrt([...e.values()].reduce((s, v) => s + (v * 0.001) ** 2, 0) * h) };
function limits(over: Partial<AccountLimits> = {}, inst: Partial<typeof NO_INSTRUMENT_LIMITS> = {}): AccountLimits {
  return { ...BASE_LIMITS, varHorizonSec: 60, defaultInstrument: { ...NO_INSTRUMENT_LIMITS, ...inst }, ...over };
}
const order = (side: number, qty: number, price: number | null = null, symbol = 'BTC/USD', orderId = ''): Order => ({ orderId, account: 'A', symbol, side, lots: Math.round(qty * 1e8), price });
const codes = (d: { reasons: { code: string }[] }) => d.reasons.map((r) => r.code);

t.test('pre-trade - every reason code is produced by an order that provokes it', async (t) => {
  const book = bookWith({ bids: [['99.0', '1']], asks: [['101.0', '1']] });
  const { views, port } = market({ 'BTC/USD': { mid: 100, book }, 'ETH/USD': { mid: 10 } });
  const now = 1_000_000;
  const mk = (l: AccountLimits) => new AccountActor('A', l, port, flatRisk);
  const expect = (code: string, d: { accept: boolean; reasons: { code: string }[] }) => t.ok(!d.accept && codes(d).includes(code), `${code}: ${JSON.stringify(codes(d))}`);

  expect(DenyReason.UNKNOWN_SYMBOL, mk(limits()).check(order(1, 1, null, 'NOPE/USD'), now));
  const bad = parseOrder({ account: 'A', symbol: 'BTC/USD', side: 'buy', qty: '-1' }, () => 8);
  t.ok('field' in bad && bad.field === 'qty', 'INVALID_ORDER names the field (qty)');
  const halted = mk(limits());
  halted.halt('test', now);
  expect(DenyReason.TRADING_HALTED, halted.check(order(1, 0.1), now));
  expect(DenyReason.MAX_ORDER_QTY, mk(limits({}, { maxOrderQty: 0.5 })).check(order(1, 1), now));
  expect(DenyReason.MAX_ORDER_NOTIONAL, mk(limits({}, { maxOrderNotional: 50 })).check(order(1, 1), now));
  expect(DenyReason.MAX_POSITION, mk(limits({}, { maxPosition: 0.5 })).check(order(1, 1), now));
  expect(DenyReason.MAX_NOTIONAL, mk(limits({}, { maxNotional: 50 })).check(order(1, 1), now));
  expect(DenyReason.MAX_GROSS_EXPOSURE, mk(limits({ maxGrossExposure: 50 })).check(order(1, 1), now));
  expect(DenyReason.MAX_NET_EXPOSURE, mk(limits({ maxNetExposure: 50 })).check(order(-1, 1), now));
  expect(DenyReason.PRICE_BAND, mk(limits({}, { priceBandBps: 50 })).check(order(1, 0.1, 101), now));
  const rate = mk(limits({ maxOrdersPerMinute: 2 }));
  rate.check(order(1, 0.1), now);
  rate.check(order(1, 0.1), now + 1);
  expect(DenyReason.ORDER_RATE, rate.check(order(1, 0.1), now + 2));
  t.ok(rate.check(order(1, 0.1), now + 61_000_000).accept, 'the window slides');
  expect(DenyReason.VAR_LIMIT, mk(limits({ maxPortfolioVar: 1 })).check(order(1, 10), now));
  expect(DenyReason.INSUFFICIENT_LIQUIDITY, mk(limits()).check(order(1, 5), now));
  views.set('ETH/USD', { ...views.get('ETH/USD')!, health: BookHealth.RESYNCING });
  const stale = mk(limits());
  expect(DenyReason.BOOK_NOT_LIVE, stale.check(order(1, 1, 10, 'ETH/USD'), now));
  t.ok(stale.check(order(1, 0.1), now).accept, 'a stale book denies orders in that instrument only');
  const reducing = mk(limits({ maxGrossExposure: 40 }));
  reducing.applyFill(fill(1, 100, 0.5));
  reducing.evaluate(now);
  t.equal(reducing.state, TradingState.REDUCING, 'gross exposure above the limit → REDUCING');
  expect(DenyReason.REDUCING_ONLY, reducing.check(order(1, 0.1), now));
  t.ok(reducing.check(order(-1, 0.1), now).accept, 'a reducing order passes');
});

t.test('pre-trade - figures report projected position, exposure, VaR and slippage', async (t) => {
  const book = bookWith({ bids: [['99.0', '1']], asks: [['101.0', '2']] });
  const { port } = market({ 'BTC/USD': { mid: 100, book } });
  const a = new AccountActor('A', limits(), port, flatRisk);
  a.applyFill(fill(1, 95, 1));
  const d = a.check(order(1, 1), 1);
  t.ok(d.accept);
  t.equal(d.figures.position, 1);
  t.equal(d.figures.projectedPosition, 2);
  t.equal(d.figures.projectedNotional, 200);
  t.equal(d.figures.grossExposure, 200);
  t.ok(rel(d.figures.expectedSlippageBps!, 100) < 1e-12, 'buying 1 at 101 vs mid 100 = 100 bps');
  t.ok(d.figures.varAfter! > d.figures.varBefore!);
});

t.test('pre-trade - concurrent orders never jointly breach the position limit (property)', async (t) => {
  const { port } = market({ 'BTC/USD': { mid: 100 } });
  fc.assert(
    fc.property(fc.array(fc.record({ side: fc.constantFrom(1, -1), qty: fc.integer({ min: 1, max: 40 }), fill: fc.boolean() }), { minLength: 1, maxLength: 60 }), (orders) => {
      const a = new AccountActor('A', limits({}, { maxPosition: 1 }), port, flatRisk);
      const accepted: { o: Order; id: string }[] = [];
      orders.forEach((x, i) => {
        const o = order(x.side, x.qty / 20, null, 'BTC/USD', `o${i}`);
        const d = a.check(o, 1_000 + i);
        if (d.accept) accepted.push({ o, id: d.orderId });
        // Some accepted orders fill at once; the rest stay reserved.
        if (d.accept && x.fill) a.applyFill({ fillId: `x${i}`, account: 'A', symbol: 'BTC/USD', side: o.side, price: 100, lots: o.lots, fee: 0, timeUs: 1 }, d.orderId);
      });
      // Worst case: every accepted order fills completely.
      let worst = a.positions.get('BTC/USD')?.lots ?? 0;
      for (const { o, id } of accepted) if (a.releaseReservation(id)) worst += o.side * o.lots;
      if (Math.abs(worst) > 1e8) throw new Error(`position could reach ${worst / 1e8}`);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random order streams');
});

t.test('trading state - a daily-loss breach halts the account; only a manual release lifts it', async (t) => {
  const { views, port } = market({ 'BTC/USD': { mid: 100 } });
  const a = new AccountActor('A', limits({ maxDailyLoss: 10 }), port, flatRisk);
  const day0 = 86_400_000_000 * 20_000;
  a.applyFill(fill(1, 100, 1));
  a.evaluate(day0);
  t.equal(a.state, TradingState.ACTIVE);
  views.set('BTC/USD', { ...views.get('BTC/USD')!, mid: 89 });
  a.evaluate(day0 + 1);
  t.equal(a.state, TradingState.HALTED);
  t.ok(a.haltedAutomatically);
  t.match(a.events.at(-1)!.reason, /daily loss 11\.00/);
  views.set('BTC/USD', { ...views.get('BTC/USD')!, mid: 100 });
  a.evaluate(day0 + 2);
  t.equal(a.state, TradingState.HALTED, 'recovery alone does not release an automatic halt');
  a.release(day0 + 3);
  t.equal(a.state, TradingState.ACTIVE);
  t.same(a.events.map((e) => [e.from, e.to, e.manual]), [['ACTIVE', 'HALTED', false], ['HALTED', 'ACTIVE', true]]);
  t.equal(new Set(a.events.map((e) => e.eventId)).size, 2, 'event ids are unique (JetStream deduplication)');
});

t.test('trading state - drawdown from the day\'s high-water mark halts', async (t) => {
  const { views, port } = market({ 'BTC/USD': { mid: 100 } });
  const a = new AccountActor('A', limits({ maxDrawdown: 15 }), port, flatRisk);
  const day0 = 86_400_000_000 * 20_001;
  a.applyFill(fill(1, 100, 1));
  a.evaluate(day0);
  views.set('BTC/USD', { ...views.get('BTC/USD')!, mid: 120 });
  a.evaluate(day0 + 1); // high-water +20
  views.set('BTC/USD', { ...views.get('BTC/USD')!, mid: 104 });
  a.evaluate(day0 + 2); // equity +4: drawdown 16, daily PnL still positive
  t.equal(a.state, TradingState.HALTED);
  t.match(a.stateReason, /drawdown 16\.00/);
});

t.test('historical task - horizon aggregation, VaR/ES and stress P&L on fixed data', async (t) => {
  const { default: run } = await import('../engine/risk-task.js');
  const rows = Array.from({ length: 100 }, (_, i) => [Math.log(1 + (i - 50) / 1000), Number.NaN]);
  const r = run({ exposures: [100, 50], scenarios: rows, rowsPerHorizon: 1, stress: [{ name: 'down', shocks: [-0.1, -0.2] }] });
  t.equal(r.scenarios, 100);
  t.ok(rel(r.var95, 4.6) < 1e-9, 'the 5th-largest loss (missing returns count as 0)');
  t.ok(rel(r.es95, 4.8) < 1e-9);
  t.same(r.stress, [{ name: 'down', pnl: -20 }]);
  const two = run({ exposures: [100, 0], scenarios: rows, rowsPerHorizon: 2, stress: [] });
  t.equal(two.scenarios, 99, 'overlapping 2-row windows');
});
