/**
 * The instrument actor: one per symbol, owning its order book and computing market risk on
 * every change. Pure domain logic — no I/O, no clock: the adapter passes receive times in
 * and decides what to do with results (publish, resync). Handling is synchronous and runs to
 * completion; nothing here awaits.
 */
import { ApplyResult, OrderBook } from './book.js';
import { POW10 } from './decimal.js';
import { costToTrade, emptyTradeCost } from './liquidity.js';
import { EwmaVolatility } from './volatility.js';
import type { LevelBatch } from './levels.js';
import { BookHealth, emptyMarketRisk, TradeSide, type MarketRisk } from './risk.js';

export interface InstrumentCounters {
  bookMessages: number;
  checksumsVerified: number;
  checksumMismatches: number;
  precisionErrors: number;
  resyncs: number;
  trades: number;
  /** Book frames ignored while the book was not being built (resyncing, unknown precision). */
  ignored: number;
}

/** Parameters of the per-instrument analytics (from configuration). */
export interface MarketRiskParams {
  /** EWMA decay per volatility sample. */
  readonly volLambda: number;
  /** Seconds between volatility samples (the caller's clock drives `sample`). */
  readonly volIntervalSec: number;
  /** Rolling window of trade VWAP and signed flow, µs. */
  readonly flowWindowUs: number;
  /** Quote notional of the clip whose cost to trade is reported. */
  readonly clipNotional: number;
}

export const DEFAULT_MARKET_RISK_PARAMS: MarketRiskParams = { volLambda: 0.999, volIntervalSec: 1, flowWindowUs: 60_000_000, clipNotional: 100_000 };

/** Trades kept for the rolling window (a bounded ring; older trades leave it first). */
const TRADE_RING = 4096;

export class InstrumentActor {
  book: OrderBook | null = null;
  health: BookHealth = BookHealth.SYNCING;
  /** Why the instrument is not LIVE (subscribe error text, venue status …), or null. */
  reason: string | null = null;
  /**
   * Set while the venue reports the pair or the whole system not online: a snapshot still
   * builds the book, but the instrument stays HALTED instead of going LIVE.
   */
  venueHalt: string | null = null;
  /** Receive time (µs) of the last book change, for quiet detection. */
  lastBookChangeUs = 0;
  readonly risk: MarketRisk;
  readonly counters: InstrumentCounters = {
    bookMessages: 0,
    checksumsVerified: 0,
    checksumMismatches: 0,
    precisionErrors: 0,
    resyncs: 0,
    trades: 0,
    ignored: 0,
  };
  pricePrecision = -1;
  qtyPrecision = -1;
  // Band-depth cache (see computeBookRisk): 2 × mid in ticks at the last computation, and
  // per side the index of the first level outside the ±50 bps band.
  private lastMidTicks2 = -1;
  private bidBandEnd = -1;
  private askBandEnd = -1;

  private readonly vol: EwmaVolatility;
  private readonly clipCost = emptyTradeCost();
  // Rolling trade window: ring of (receive time, price, qty, signed qty) and running sums.
  private readonly tTime = new Float64Array(TRADE_RING);
  private readonly tPrice = new Float64Array(TRADE_RING);
  private readonly tQty = new Float64Array(TRADE_RING);
  private readonly tSide = new Int8Array(TRADE_RING);
  private tHead = 0;
  private tCount = 0;
  private sumPQ = 0;
  private sumQ = 0;
  private sumFlow = 0;

  constructor(
    readonly symbol: string,
    readonly depth: number,
    simulated: boolean,
    /** Start time of this actor instance (epoch µs), from the caller's clock. */
    epochUs: number,
    readonly params: MarketRiskParams = DEFAULT_MARKET_RISK_PARAMS,
  ) {
    this.risk = emptyMarketRisk(symbol, simulated, epochUs);
    this.vol = new EwmaVolatility(params.volLambda, params.volIntervalSec);
  }

  /** Instrument precision from the venue; a change invalidates the book (new snapshot needed). */
  setPrecision(pricePrecision: number, qtyPrecision: number): boolean {
    if (pricePrecision === this.pricePrecision && qtyPrecision === this.qtyPrecision) return false;
    this.pricePrecision = pricePrecision;
    this.qtyPrecision = qtyPrecision;
    if (this.book === null) this.book = new OrderBook(this.depth, pricePrecision, qtyPrecision);
    else this.book.setPrecision(pricePrecision, qtyPrecision);
    return true;
  }

  /**
   * Change health. Leaving LIVE clears every book-derived field of the risk record, so a
   * record that is not LIVE can never be read as a valid price.
   */
  setHealth(health: BookHealth, reason: string | null): boolean {
    if (health === this.health && reason === this.reason) return false;
    this.health = health;
    this.reason = reason;
    const risk = this.risk;
    risk.health = health;
    if (health !== BookHealth.LIVE) {
      this.lastMidTicks2 = -1;
      risk.quiet = false;
      risk.bid = risk.ask = risk.bidQty = risk.askQty = risk.mid = risk.microprice = null;
      risk.spread = risk.spreadBps = risk.imbalance = null;
      risk.bidDepth10bps = risk.askDepth10bps = risk.bidDepth50bps = risk.askDepth50bps = null;
      risk.clipQty = risk.buyClipBps = risk.sellClipBps = null;
      risk.depth = 0;
    }
    return true;
  }

  /**
   * Apply one book message. A snapshot (re)starts the book; updates are applied only while
   * the book is being maintained (LIVE). Returns the ApplyResult, or -1 when ignored.
   */
  onBook(batch: LevelBatch, recvUs: number): number {
    const book = this.book;
    this.counters.bookMessages++;
    if (book === null || (!batch.isSnapshot && this.health !== BookHealth.LIVE)) {
      this.counters.ignored++;
      return -1;
    }
    const r = book.apply(batch);
    if (r === ApplyResult.OK) {
      if (batch.checksum >= 0) this.counters.checksumsVerified++;
      if (batch.isSnapshot) {
        if (this.venueHalt !== null) {
          this.setHealth(BookHealth.HALTED, this.venueHalt);
          return r;
        }
        this.setHealth(BookHealth.LIVE, null);
      }
      this.lastBookChangeUs = recvUs;
      const risk = this.risk;
      risk.quiet = false;
      risk.eventTimeUs = batch.eventTimeUs >= 0 ? batch.eventTimeUs : null;
      risk.recvTimeUs = recvUs;
      this.computeBookRisk();
    } else {
      if (r === ApplyResult.CHECKSUM_MISMATCH) this.counters.checksumMismatches++;
      else this.counters.precisionErrors++;
      this.setHealth(BookHealth.RESYNCING, r === ApplyResult.CHECKSUM_MISMATCH ? 'checksum mismatch' : 'price or qty beyond instrument precision');
      book.clear();
    }
    return r;
  }

  /** One trade (taker side ±1). */
  onTrade(price: number, qty: number, side: number, timeUs: number, recvUs: number): void {
    this.counters.trades++;
    const risk = this.risk;
    risk.lastTradePrice = price;
    risk.lastTradeQty = qty;
    risk.lastTradeSide = side > 0 ? TradeSide.BUY : side < 0 ? TradeSide.SELL : TradeSide.NONE;
    risk.lastTradeTimeUs = timeUs >= 0 ? timeUs : null;
    risk.eventTimeUs = timeUs >= 0 ? timeUs : risk.eventTimeUs;
    risk.recvTimeUs = recvUs;
    // Into the rolling window (the oldest trade leaves when the ring is full).
    if (this.tCount === TRADE_RING) this.evictOldest();
    const i = (this.tHead + this.tCount) % TRADE_RING;
    this.tTime[i] = recvUs;
    this.tPrice[i] = price;
    this.tQty[i] = qty;
    this.tSide[i] = side > 0 ? 1 : side < 0 ? -1 : 0;
    this.tCount++;
    this.sumPQ += price * qty;
    this.sumQ += qty;
    this.sumFlow += this.tSide[i]! * qty;
    this.evictBefore(recvUs - this.params.flowWindowUs);
    this.publishFlow();
  }

  private evictOldest(): void {
    const i = this.tHead;
    const q = this.tQty[i]!;
    this.sumPQ -= this.tPrice[i]! * q;
    this.sumQ -= q;
    this.sumFlow -= this.tSide[i]! * q;
    this.tHead = (i + 1) % TRADE_RING;
    this.tCount--;
    if (this.tCount === 0) this.sumPQ = this.sumQ = this.sumFlow = 0; // no drift carried over
  }

  private evictBefore(cutoffUs: number): boolean {
    let evicted = false;
    while (this.tCount > 0 && this.tTime[this.tHead]! < cutoffUs) {
      this.evictOldest();
      evicted = true;
    }
    return evicted;
  }

  private publishFlow(): void {
    const risk = this.risk;
    risk.vwap = this.sumQ > 0 ? this.sumPQ / this.sumQ : null;
    risk.flow = this.tCount > 0 ? this.sumFlow : 0;
  }

  /**
   * One tick of the sampling clock (every volIntervalSec): the volatility sample of mid, and
   * trades leaving the flow window. Returns true when the risk record changed.
   */
  sample(nowUs: number): boolean {
    const r = this.vol.sample(this.health === BookHealth.LIVE ? this.risk.mid : null);
    let changed = false;
    if (r !== null && this.vol.samples >= 1) {
      this.risk.volAnnual = this.vol.annualized();
      changed = true;
    }
    if (this.evictBefore(nowUs - this.params.flowWindowUs)) {
      this.publishFlow();
      changed = true;
    }
    return changed;
  }

  /** Quiet: no book change for `quietAfterUs` while the connection is alive. Returns true on change. */
  checkQuiet(nowUs: number, quietAfterUs: number): boolean {
    const quiet = this.health === BookHealth.LIVE && nowUs - this.lastBookChangeUs >= quietAfterUs;
    if (quiet === this.risk.quiet) return false;
    this.risk.quiet = quiet;
    return true;
  }

  /** Whether the current risk record describes a valid book. */
  isLive(): boolean {
    return this.health === BookHealth.LIVE;
  }

  private computeBookRisk(): void {
    const book = this.book!;
    const risk = this.risk;
    risk.checksum = book.crc;
    const nb = book.bids.n;
    const na = book.asks.n;
    risk.depth = nb > na ? nb : na;
    const bid = nb > 0 ? book.bidPrice(0) : null;
    const ask = na > 0 ? book.askPrice(0) : null;
    const bq = nb > 0 ? book.bidQty(0) : null;
    const aq = na > 0 ? book.askQty(0) : null;
    risk.bid = bid;
    risk.ask = ask;
    risk.bidQty = bq;
    risk.askQty = aq;
    if (bid === null || ask === null || bq === null || aq === null) {
      risk.mid = risk.microprice = risk.spread = risk.spreadBps = risk.imbalance = null;
      risk.clipQty = risk.buyClipBps = risk.sellClipBps = null;
      risk.bidDepth10bps = risk.askDepth10bps = risk.bidDepth50bps = risk.askDepth50bps = null;
      return;
    }
    // From exact ticks, one rounding: mid and spread print as the decimals they are.
    const scale = POW10[book.pricePrecision]!;
    const bt = book.bestBidTicks();
    const at = book.bestAskTicks();
    const mid = (bt + at) / (2 * scale);
    risk.mid = mid;
    risk.microprice = (bid * aq + ask * bq) / (bq + aq);
    risk.spread = (at - bt) / scale;
    risk.spreadBps = ((at - bt) / (bt + at)) * 2e4;
    risk.imbalance = (bq - aq) / (bq + aq);
    // Cost of the configured clip at market, each way (walks only the levels it needs).
    const clip = this.params.clipNotional / mid;
    risk.clipQty = clip;
    const c = costToTrade(book, 1, clip, this.clipCost);
    risk.buyClipBps = c.insufficient ? null : c.slippageBps;
    costToTrade(book, -1, clip, c);
    risk.sellClipBps = c.insufficient ? null : c.slippageBps;
    // Notional within ±10/±50 bps of mid. A side is re-summed only when mid moved or a level
    // at or above the band's edge changed (`touchedFrom`): at depth 1000 most updates land
    // below the band and cost nothing here. Sums run on ticks and lots, scaled once.
    const midTicks2 = bt + at; // 2 × mid in ticks
    const midMoved = midTicks2 !== this.lastMidTicks2;
    this.lastMidTicks2 = midTicks2;
    const invP = 1 / scale;
    const invQ = 1 / POW10[book.qtyPrecision]!;
    const bids = book.bids;
    if (midMoved || bids.touchedFrom <= this.bidBandEnd) {
      const lo50 = (midTicks2 / 2) * (1 - 0.005);
      const lo10 = (midTicks2 / 2) * (1 - 0.001);
      let d10 = 0;
      let d50 = 0;
      let i = 0;
      for (; i < nb; i++) {
        const p = -bids.key[i]!;
        if (p < lo50) break;
        const notional = p * (bids.hi[i]! + bids.lo[i]! * invQ);
        d50 += notional;
        if (p >= lo10) d10 += notional;
      }
      this.bidBandEnd = i;
      risk.bidDepth10bps = d10 * invP;
      risk.bidDepth50bps = d50 * invP;
    }
    bids.touchedFrom = Number.MAX_SAFE_INTEGER;
    const asks = book.asks;
    if (midMoved || asks.touchedFrom <= this.askBandEnd) {
      const hi50 = (midTicks2 / 2) * (1 + 0.005);
      const hi10 = (midTicks2 / 2) * (1 + 0.001);
      let d10 = 0;
      let d50 = 0;
      let i = 0;
      for (; i < na; i++) {
        const p = asks.key[i]!;
        if (p > hi50) break;
        const notional = p * (asks.hi[i]! + asks.lo[i]! * invQ);
        d50 += notional;
        if (p <= hi10) d10 += notional;
      }
      this.askBandEnd = i;
      risk.askDepth10bps = d10 * invP;
      risk.askDepth50bps = d50 * invP;
    }
    asks.touchedFrom = Number.MAX_SAFE_INTEGER;
  }
}
