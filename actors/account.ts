/**
 * The account actor: positions from fills, limits, the trading state (ACTIVE / REDUCING /
 * HALTED) and the pre-trade check. Synchronous and run-to-completion: checks for one account
 * are decided one at a time, and an accepted order reserves its exposure before the next check
 * runs, so two concurrent orders cannot jointly breach a limit.
 *
 * Market data comes in through the `MarketPort` (the instrument actors' current state); the
 * portfolio's return covariance through `RiskPort`. Times are passed in (epoch µs).
 */
import { DecimalParts, parseDecimal, POW10, toScaled } from './decimal.js';
import { costToTrade, type BookLevels } from './liquidity.js';
import { FillLedger, Position, type Fill, type PositionSnapshot } from './position.js';
import { BookHealth } from './risk.js';
import { Z, type Confidence } from './var.js';

export const TradingState = { ACTIVE: 'ACTIVE', REDUCING: 'REDUCING', HALTED: 'HALTED' } as const;
export type TradingState = (typeof TradingState)[keyof typeof TradingState];

export const DenyReason = {
  TRADING_HALTED: 'TRADING_HALTED',
  REDUCING_ONLY: 'REDUCING_ONLY',
  BOOK_NOT_LIVE: 'BOOK_NOT_LIVE',
  MAX_ORDER_QTY: 'MAX_ORDER_QTY',
  MAX_ORDER_NOTIONAL: 'MAX_ORDER_NOTIONAL',
  MAX_POSITION: 'MAX_POSITION',
  MAX_NOTIONAL: 'MAX_NOTIONAL',
  MAX_GROSS_EXPOSURE: 'MAX_GROSS_EXPOSURE',
  MAX_NET_EXPOSURE: 'MAX_NET_EXPOSURE',
  PRICE_BAND: 'PRICE_BAND',
  ORDER_RATE: 'ORDER_RATE',
  VAR_LIMIT: 'VAR_LIMIT',
  INSUFFICIENT_LIQUIDITY: 'INSUFFICIENT_LIQUIDITY',
  UNKNOWN_SYMBOL: 'UNKNOWN_SYMBOL',
  INVALID_ORDER: 'INVALID_ORDER',
} as const;
export type DenyReason = (typeof DenyReason)[keyof typeof DenyReason];

/** Limits of one instrument for one account; null = no limit. */
export interface InstrumentLimits {
  readonly maxPosition: number | null;
  readonly maxNotional: number | null;
  readonly maxOrderQty: number | null;
  readonly maxOrderNotional: number | null;
  readonly priceBandBps: number | null;
}

export interface AccountLimits {
  readonly maxGrossExposure: number | null;
  readonly maxNetExposure: number | null;
  readonly maxOrdersPerMinute: number | null;
  readonly maxNotionalPerMinute: number | null;
  readonly maxDailyLoss: number | null;
  readonly maxDrawdown: number | null;
  readonly maxPortfolioVar: number | null;
  /** Confidence and horizon of the VaR limited by maxPortfolioVar. */
  readonly varConfidence: Confidence;
  readonly varHorizonSec: number;
  /** How long an accepted order reserves exposure without a fill or release. */
  readonly reservationTtlSec: number;
  readonly instruments: Readonly<Record<string, InstrumentLimits>>;
  /** Limits for instruments not listed in `instruments`. */
  readonly defaultInstrument: InstrumentLimits;
}

export const NO_INSTRUMENT_LIMITS: InstrumentLimits = { maxPosition: null, maxNotional: null, maxOrderQty: null, maxOrderNotional: null, priceBandBps: null };

export interface MarketView {
  readonly symbol: string;
  readonly health: BookHealth;
  readonly mid: number | null;
  readonly qtyPrecision: number;
  /** Live book for liquidity walks; null when not available. */
  readonly book: BookLevels | null;
}

export interface MarketPort {
  market(symbol: string): MarketView | undefined;
}

export interface RiskPort {
  /** √(wᵀΣw) over `horizonSec` for exposures keyed by symbol (quote currency). */
  portfolioSigmaValue(exposures: ReadonlyMap<string, number>, horizonSec: number): number;
}

export interface Order {
  readonly orderId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: number;
  /** Base quantity in lots of the instrument's precision. */
  readonly lots: number;
  /** Limit price, or null for a market order. */
  readonly price: number | null;
}

export interface CheckFigures {
  position: number;
  projectedPosition: number;
  projectedNotional: number | null;
  grossExposure: number | null;
  netExposure: number | null;
  varBefore: number | null;
  varAfter: number | null;
  expectedSlippageBps: number | null;
  mid: number | null;
}

export interface Decision {
  readonly accept: boolean;
  readonly orderId: string;
  readonly reasons: { code: DenyReason; detail: string }[];
  readonly figures: CheckFigures;
  readonly state: TradingState;
}

export interface StateEvent {
  readonly account: string;
  readonly from: TradingState;
  readonly to: TradingState;
  readonly reason: string;
  readonly manual: boolean;
  readonly timeUs: number;
  /** Unique per event, used as the JetStream message id (deduplication). */
  readonly eventId: string;
}

interface Reservation {
  readonly symbol: string;
  signedLots: number;
  readonly expiresUs: number;
}

const parts = new DecimalParts();

/** Validate a pre-trade request (decoded JSON/msgpack). Returns the order or the failing field. */
export function parseOrder(msg: unknown, qtyPrecision: (symbol: string) => number | undefined): Order | { field: string; detail: string; unknownSymbol?: boolean } {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return { field: '(request)', detail: 'request must be an object' };
  const m = msg as Record<string, unknown>;
  const str = (k: string, max: number) => (typeof m[k] === 'string' && (m[k] as string).length > 0 && (m[k] as string).length <= max ? (m[k] as string) : null);
  const account = str('account', 64);
  if (account === null) return { field: 'account', detail: 'account must be a non-empty string' };
  const symbol = str('symbol', 32);
  if (symbol === null) return { field: 'symbol', detail: 'symbol must be a non-empty string' };
  const side = m.side === 'buy' ? 1 : m.side === 'sell' ? -1 : 0;
  if (side === 0) return { field: 'side', detail: 'side must be "buy" or "sell"' };
  const qp = qtyPrecision(symbol);
  if (qp === undefined) return { field: 'symbol', detail: `unknown symbol ${symbol}`, unknownSymbol: true };
  const qtyText = typeof m.qty === 'number' || typeof m.qty === 'string' ? String(m.qty) : '';
  if (!parseDecimal(qtyText, parts) || parts.negative) return { field: 'qty', detail: 'qty must be a positive decimal' };
  const lots = toScaled(parts.int, parts.frac, parts.fracLen, qp);
  if (lots <= 0) return { field: 'qty', detail: lots === 0 ? 'qty must be positive' : `qty has more than ${qp} decimals` };
  let price: number | null = null;
  if (m.price !== undefined && m.price !== null) {
    price = Number(m.price);
    if (!Number.isFinite(price) || price <= 0) return { field: 'price', detail: 'price must be a positive number (omit it for a market order)' };
  }
  const orderId = m.order_id === undefined ? '' : String(m.order_id);
  if (orderId.length > 128) return { field: 'order_id', detail: 'order_id too long' };
  return { orderId, account, symbol, side, lots, price };
}

export interface AccountSnapshot {
  readonly account: string;
  readonly state: TradingState;
  readonly stateReason: string;
  readonly autoHalted: boolean;
  readonly dayKey: number;
  readonly dayStartEquity: number;
  readonly highWater: number;
  readonly eventSeq: number;
  /** Epoch of the account's event ids (0 before its first transition). */
  readonly eventEpoch?: number;
  readonly positions: readonly PositionSnapshot[];
  /** The newest applied fill ids (duplicates of these are recognised after a restart). */
  readonly ledger: readonly string[];
}

export class AccountActor {
  state: TradingState = TradingState.ACTIVE;
  stateReason = 'initial';
  /** The last HALT was automatic: only a manual release lifts it. */
  private autoHalted = false;
  readonly positions = new Map<string, Position>();
  readonly ledger = new FillLedger();
  /** Open reservations by order id, their signed sum per symbol, and a FIFO for expiry. */
  private readonly reservations = new Map<string, Reservation>();
  private readonly reservedBySymbol = new Map<string, number>();
  private expiry: { orderId: string; expiresUs: number }[] = [];
  private expiryHead = 0;
  private readonly orderTimes: number[] = [];
  private readonly orderNotionals: number[] = [];
  private dayKey = -1;
  private dayStartEquity = 0;
  private highWater = 0;
  private eventSeq = 0;
  private eventEpoch = 0;
  private nextOrderId = 1;
  /** Every state transition, for the caller to publish durably. */
  readonly events: StateEvent[] = [];

  constructor(
    readonly account: string,
    public limits: AccountLimits,
    private readonly marketPort: MarketPort,
    private readonly riskPort: RiskPort,
  ) {}

  private instrumentLimits(symbol: string): InstrumentLimits {
    return this.limits.instruments[symbol] ?? this.limits.defaultInstrument;
  }

  private position(symbol: string, qtyPrecision: number): Position {
    let p = this.positions.get(symbol);
    if (p === undefined) {
      p = new Position(symbol, qtyPrecision);
      this.positions.set(symbol, p);
    }
    return p;
  }

  // ------------------------------------------------------------------ fills

  /** Apply a fill once; returns false for a duplicate (already applied). */
  applyFill(f: Fill, orderId: string | null = null): boolean {
    if (!this.ledger.add(f.fillId)) return false;
    const qp = this.marketPort.market(f.symbol)?.qtyPrecision;
    this.position(f.symbol, qp ?? 8).apply(f);
    if (orderId !== null) {
      const r = this.reservations.get(orderId);
      if (r !== undefined) {
        // The fill consumes the reservation, never beyond zero.
        const take = Math.sign(r.signedLots) === f.side ? Math.min(Math.abs(r.signedLots), f.lots) * f.side : 0;
        r.signedLots -= take;
        this.adjustReserved(r.symbol, -take);
        if (r.signedLots === 0) this.reservations.delete(orderId);
      }
    }
    return true;
  }

  private adjustReserved(symbol: string, delta: number): void {
    if (delta === 0) return;
    const v = (this.reservedBySymbol.get(symbol) ?? 0) + delta;
    if (v === 0) this.reservedBySymbol.delete(symbol);
    else this.reservedBySymbol.set(symbol, v);
  }

  /** Drop a reservation (order cancelled or rejected downstream). */
  releaseReservation(orderId: string): boolean {
    const r = this.reservations.get(orderId);
    if (r === undefined) return false;
    this.reservations.delete(orderId);
    this.adjustReserved(r.symbol, -r.signedLots);
    return true;
  }

  /** Reservations past their time, oldest first (O(expired), not O(open)). */
  private expireReservations(nowUs: number): void {
    const q = this.expiry;
    while (this.expiryHead < q.length && q[this.expiryHead]!.expiresUs <= nowUs) {
      const id = q[this.expiryHead++]!.orderId;
      const r = this.reservations.get(id);
      if (r !== undefined && r.expiresUs <= nowUs) this.releaseReservation(id);
    }
    if (this.expiryHead > 1024 && this.expiryHead * 2 > q.length) {
      this.expiry = q.slice(this.expiryHead);
      this.expiryHead = 0;
    }
  }

  private reservedLots(symbol: string): number {
    return this.reservedBySymbol.get(symbol) ?? 0;
  }

  // ------------------------------------------------------------------ valuation

  /** Exposure per symbol in quote currency (position + reservations), at mid. */
  private exposures(extraSymbol: string | null, extraLots: number): { map: Map<string, number>; gross: number; net: number; complete: boolean } {
    const map = new Map<string, number>();
    let complete = true;
    const symbols = new Set<string>(this.positions.keys());
    for (const s of this.reservedBySymbol.keys()) symbols.add(s);
    if (extraSymbol !== null) symbols.add(extraSymbol);
    for (const s of symbols) {
      const m = this.marketPort.market(s);
      const lots = (this.positions.get(s)?.lots ?? 0) + this.reservedLots(s) + (s === extraSymbol ? extraLots : 0);
      if (lots === 0) continue;
      if (m === undefined || m.mid === null) {
        complete = false;
        continue;
      }
      map.set(s, (lots / POW10[m.qtyPrecision]!) * m.mid);
    }
    let gross = 0;
    let net = 0;
    for (const v of map.values()) {
      gross += Math.abs(v);
      net += v;
    }
    return { map, gross, net, complete };
  }

  private portfolioVar(exposures: ReadonlyMap<string, number>): number {
    return Z[this.limits.varConfidence] * this.riskPort.portfolioSigmaValue(exposures, this.limits.varHorizonSec);
  }

  /** Realized + unrealized PnL at mid over all positions. */
  equity(): number {
    let e = 0;
    for (const p of this.positions.values()) {
      e += p.realizedPnl;
      const mid = this.marketPort.market(p.symbol)?.mid ?? null;
      if (mid !== null) e += p.unrealizedAt(mid);
    }
    return e;
  }

  // ------------------------------------------------------------------ trading state

  private transition(to: TradingState, reason: string, manual: boolean, nowUs: number): void {
    if (to === this.state && reason === this.stateReason) return;
    const from = this.state;
    this.state = to;
    this.stateReason = reason;
    // The id is the account's event epoch (its first transition's time, carried by
    // checkpoints) and a sequence: a restart that replays the same fills re-emits the same
    // transitions under the same ids, so they are stored once.
    if (this.eventEpoch === 0) this.eventEpoch = nowUs;
    this.events.push({ account: this.account, from, to, reason, manual, timeUs: nowUs, eventId: `${this.account}:${this.eventEpoch}:${++this.eventSeq}` });
  }

  /** Manual kill switch. */
  halt(reason: string, nowUs: number): void {
    this.autoHalted = false;
    this.transition(TradingState.HALTED, `manual: ${reason}`, true, nowUs);
  }

  /** Manual release (the only way out of an automatic HALT). */
  release(nowUs: number): void {
    this.autoHalted = false;
    this.transition(TradingState.ACTIVE, 'manual release', true, nowUs);
    this.evaluate(nowUs);
  }

  /**
   * Automatic transitions from the current risk: daily loss or drawdown limit → HALTED;
   * portfolio VaR or gross exposure limit → REDUCING (and back to ACTIVE when both clear).
   */
  evaluate(nowUs: number): void {
    const equity = this.equity();
    const day = Math.floor(nowUs / 86_400_000_000);
    if (day !== this.dayKey) {
      // A new account starts its first day flat (equity 0 before its first fill); later days
      // start from the equity at the day change.
      const start = this.dayKey === -1 ? 0 : equity;
      this.dayKey = day;
      this.dayStartEquity = start;
      this.highWater = Math.max(start, equity);
    }
    if (equity > this.highWater) this.highWater = equity;
    const L = this.limits;
    if (this.state === TradingState.HALTED) return; // only a manual release lifts a HALT
    const dailyPnl = equity - this.dayStartEquity;
    if (L.maxDailyLoss !== null && -dailyPnl >= L.maxDailyLoss) {
      this.autoHalted = true;
      return this.transition(TradingState.HALTED, `daily loss ${(-dailyPnl).toFixed(2)} reached limit ${L.maxDailyLoss}`, false, nowUs);
    }
    const drawdown = this.highWater - equity;
    if (L.maxDrawdown !== null && drawdown >= L.maxDrawdown) {
      this.autoHalted = true;
      return this.transition(TradingState.HALTED, `drawdown ${drawdown.toFixed(2)} reached limit ${L.maxDrawdown}`, false, nowUs);
    }
    const ex = this.exposures(null, 0);
    const v = L.maxPortfolioVar !== null ? this.portfolioVar(ex.map) : 0;
    if (L.maxPortfolioVar !== null && v > L.maxPortfolioVar) return this.transition(TradingState.REDUCING, `portfolio VaR ${v.toFixed(2)} above limit ${L.maxPortfolioVar}`, false, nowUs);
    if (L.maxGrossExposure !== null && ex.gross > L.maxGrossExposure) return this.transition(TradingState.REDUCING, `gross exposure ${ex.gross.toFixed(2)} above limit ${L.maxGrossExposure}`, false, nowUs);
    if (this.state === TradingState.REDUCING) this.transition(TradingState.ACTIVE, 'limits back within bounds', false, nowUs);
  }

  /** Positions, trading state and the day's reference points, for a warm-restart checkpoint. */
  toSnapshot(ledgerIds: number): AccountSnapshot {
    return {
      account: this.account,
      state: this.state,
      stateReason: this.stateReason,
      autoHalted: this.autoHalted,
      dayKey: this.dayKey,
      dayStartEquity: this.dayStartEquity,
      highWater: this.highWater,
      eventSeq: this.eventSeq,
      eventEpoch: this.eventEpoch,
      positions: [...this.positions.values()].map((p) => p.toSnapshot()),
      ledger: this.ledger.recent(ledgerIds),
    };
  }

  /** Restore a checkpoint into this (new) actor. Reservations are not carried over. */
  restore(s: AccountSnapshot): void {
    this.state = s.state;
    this.stateReason = s.stateReason;
    this.autoHalted = s.autoHalted;
    this.dayKey = s.dayKey;
    this.dayStartEquity = s.dayStartEquity;
    this.highWater = s.highWater;
    this.eventSeq = s.eventSeq;
    this.eventEpoch = s.eventEpoch ?? 0;
    this.positions.clear();
    for (const p of s.positions) this.positions.set(p.symbol, Position.fromSnapshot(p));
    for (const id of s.ledger) this.ledger.add(id);
  }

  get haltedAutomatically(): boolean {
    return this.state === TradingState.HALTED && this.autoHalted;
  }

  dailyPnl(): number {
    return this.equity() - this.dayStartEquity;
  }

  drawdown(): number {
    return this.highWater - this.equity();
  }

  // ------------------------------------------------------------------ pre-trade check

  /** Decide one order. Accepted orders reserve their quantity until filled, released or expired. */
  check(o: Order, nowUs: number): Decision {
    this.expireReservations(nowUs);
    const reasons: { code: DenyReason; detail: string }[] = [];
    const deny = (code: DenyReason, detail: string) => reasons.push({ code, detail });
    const m = this.marketPort.market(o.symbol);
    const figures: CheckFigures = { position: 0, projectedPosition: 0, projectedNotional: null, grossExposure: null, netExposure: null, varBefore: null, varAfter: null, expectedSlippageBps: null, mid: null };
    const orderId = o.orderId !== '' ? o.orderId : `${this.account}-${this.nextOrderId++}`;
    if (m === undefined) {
      deny(DenyReason.UNKNOWN_SYMBOL, `unknown symbol ${o.symbol}`);
      return { accept: false, orderId, reasons, figures, state: this.state };
    }
    const L = this.limits;
    const IL = this.instrumentLimits(o.symbol);
    const unit = POW10[m.qtyPrecision]!;
    const posLots = this.positions.get(o.symbol)?.lots ?? 0;
    const reserved = this.reservedLots(o.symbol);
    const signed = o.side * o.lots;
    const qty = o.lots / unit;
    const projected = posLots + reserved + signed;
    figures.position = posLots / unit;
    figures.projectedPosition = projected / unit;
    figures.mid = m.mid;
    // A reducing order moves the (position + reservations) toward zero without crossing it.
    const current = posLots + reserved;
    const reducing = current !== 0 && Math.sign(signed) === -Math.sign(current) && o.lots <= Math.abs(current);

    if (this.state === TradingState.HALTED) deny(DenyReason.TRADING_HALTED, `account halted: ${this.stateReason}`);
    else if (this.state === TradingState.REDUCING && !reducing) deny(DenyReason.REDUCING_ONLY, `account reducing: ${this.stateReason}`);
    if (m.health !== BookHealth.LIVE) deny(DenyReason.BOOK_NOT_LIVE, `${o.symbol} book is ${m.health}`);
    if (IL.maxOrderQty !== null && qty > IL.maxOrderQty) deny(DenyReason.MAX_ORDER_QTY, `order qty ${qty} above ${IL.maxOrderQty}`);
    const refPrice = o.price ?? m.mid;
    if (refPrice !== null && IL.maxOrderNotional !== null && qty * refPrice > IL.maxOrderNotional) deny(DenyReason.MAX_ORDER_NOTIONAL, `order notional ${(qty * refPrice).toFixed(2)} above ${IL.maxOrderNotional}`);
    if (IL.maxPosition !== null && Math.abs(projected) / unit > IL.maxPosition && !reducing) deny(DenyReason.MAX_POSITION, `projected position ${projected / unit} beyond ±${IL.maxPosition}`);
    if (m.mid !== null) {
      figures.projectedNotional = (projected / unit) * m.mid;
      if (IL.maxNotional !== null && Math.abs(figures.projectedNotional) > IL.maxNotional && !reducing) deny(DenyReason.MAX_NOTIONAL, `projected notional ${Math.abs(figures.projectedNotional).toFixed(2)} above ${IL.maxNotional}`);
      if (o.price !== null && IL.priceBandBps !== null) {
        const offBps = (o.side * (o.price - m.mid)) / m.mid * 1e4;
        if (offBps > IL.priceBandBps) deny(DenyReason.PRICE_BAND, `limit ${o.price} is ${offBps.toFixed(1)} bps through mid ${m.mid} (band ${IL.priceBandBps} bps)`);
      }
    }
    const before = this.exposures(null, 0);
    const after = this.exposures(o.symbol, signed);
    figures.grossExposure = after.gross;
    figures.netExposure = after.net;
    if (!reducing) {
      if (L.maxGrossExposure !== null && after.gross > L.maxGrossExposure) deny(DenyReason.MAX_GROSS_EXPOSURE, `projected gross exposure ${after.gross.toFixed(2)} above ${L.maxGrossExposure}`);
      if (L.maxNetExposure !== null && Math.abs(after.net) > L.maxNetExposure) deny(DenyReason.MAX_NET_EXPOSURE, `projected net exposure ${after.net.toFixed(2)} beyond ±${L.maxNetExposure}`);
    }
    // Rate limits over the last minute.
    const since = nowUs - 60_000_000;
    while (this.orderTimes.length > 0 && this.orderTimes[0]! <= since) {
      this.orderTimes.shift();
      this.orderNotionals.shift();
    }
    const notional = refPrice !== null ? qty * refPrice : 0;
    if (L.maxOrdersPerMinute !== null && this.orderTimes.length + 1 > L.maxOrdersPerMinute) deny(DenyReason.ORDER_RATE, `more than ${L.maxOrdersPerMinute} orders in a minute`);
    if (L.maxNotionalPerMinute !== null && this.orderNotionals.reduce((s, x) => s + x, 0) + notional > L.maxNotionalPerMinute) deny(DenyReason.ORDER_RATE, `more than ${L.maxNotionalPerMinute} notional in a minute`);
    // VaR before and after is always reported; an order that lowers VaR passes even above the limit.
    figures.varBefore = this.portfolioVar(before.map);
    figures.varAfter = this.portfolioVar(after.map);
    if (L.maxPortfolioVar !== null && figures.varAfter > L.maxPortfolioVar && figures.varAfter > figures.varBefore) {
      deny(DenyReason.VAR_LIMIT, `portfolio VaR after the order ${figures.varAfter.toFixed(2)} above ${L.maxPortfolioVar}`);
    }
    if (m.book !== null && m.health === BookHealth.LIVE) {
      const c = costToTrade(m.book, o.side, qty);
      figures.expectedSlippageBps = Number.isNaN(c.slippageBps) ? null : c.slippageBps;
      if (o.price === null && c.insufficient) deny(DenyReason.INSUFFICIENT_LIQUIDITY, `visible book fills ${c.filled} of ${qty}`);
    }
    const accept = reasons.length === 0;
    if (accept) {
      this.orderTimes.push(nowUs);
      this.orderNotionals.push(notional);
      const expiresUs = nowUs + L.reservationTtlSec * 1e6;
      const previous = this.reservations.get(orderId);
      if (previous !== undefined) this.releaseReservation(orderId); // a re-check of the same order id replaces it
      this.reservations.set(orderId, { symbol: o.symbol, signedLots: signed, expiresUs });
      this.adjustReserved(o.symbol, signed);
      this.expiry.push({ orderId, expiresUs });
    }
    return { accept, orderId, reasons, figures, state: this.state };
  }
}
