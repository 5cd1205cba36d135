/**
 * One simulated market: the hidden full-depth book of a pair, the process that
 * moves it, and the per-depth views its subscribers see.
 *
 * ## Model
 * The server keeps one hidden book of `hiddenDepth` (> 1000) levels per side.
 * A "fair" mid follows a geometric random walk whose volatility switches between
 * a calm and a volatile regime. Each book message applies 1–3 level changes:
 * the touch follows the fair mid (consume the side the mid moved into, improve
 * the other side inside the spread), and otherwise levels are modified (~60 %),
 * inserted (~20 %) or deleted (~20 %), concentrated near the top of the book.
 * A delete is refilled at the far end of the hidden book and an insert trims the
 * far end, so the hidden book keeps `hiddenDepth` levels (except when a cheap
 * pair's bids run into the 1-tick price floor).
 *
 * ## Windows (kraken-v2.md §6)
 * A subscriber at depth D sees the top D levels of each side. Every primitive
 * change of the hidden book is translated per distinct depth in use:
 * - modify at index i < D → the level with its new qty;
 * - insert at index i < D → the new level; the level pushed to index D leaves
 *   the window silently (no delete), as Kraken does;
 * - delete at index i < D → `qty 0` for it, then — in the same message — the
 *   level that moved up into position D-1 from beyond the window ("replenishment");
 * - anything at index ≥ D → nothing.
 * A message that changes nothing inside a window is not sent to that window.
 * All depths are ≥ 10, so the top 10 — and hence the checksum — is the same in
 * every window and is computed once per message.
 *
 * Subscribers with the same depth get the same frame text; it is built once.
 */
import { bookChecksum, CHECKSUM_LEVELS } from './checksum.js';
import { BookSide } from './book.js';
import { isoMicros } from './clock.js';
import type { PairSpec, SimConfig } from './config.js';
import { formatDigits, formatSignedUnits, formatUnits, MAX_UNITS } from './decimal.js';
import { Rng } from './rng.js';
import type { SimStats } from './types.js';

/** A client connection as a market sees it. */
export interface Outlet {
  /** True while the client's send buffer is over the high-water mark. */
  readonly slow: boolean;
  /** Number of this client's book subscriptions waiting for a resync snapshot. */
  staleSubs: number;
  /** Write a book frame (counted as a book message). */
  sendBook(frame: string): void;
  /** Write any other frame. */
  send(frame: string): void;
}

/** One book subscription: connection × symbol × depth. */
export class BookSub {
  readonly out: Outlet;
  readonly market: Market;
  readonly depth: number;
  /**
   * Set when updates were skipped because the client was slow; the client's
   * book is then wrong until the server sends it a fresh snapshot.
   */
  stale: boolean;
  constructor(out: Outlet, market: Market, depth: number) {
    this.out = out;
    this.market = market;
    this.depth = depth;
    this.stale = false;
  }
}

/** The subscribers of one depth and the level text accumulated for the current message. */
class DepthGroup {
  readonly depth: number;
  readonly subs: BookSub[];
  bids: string;
  asks: string;
  touched: boolean;
  constructor(depth: number) {
    this.depth = depth;
    this.subs = [];
    this.bids = '';
    this.asks = '';
    this.touched = false;
  }
  add(isBid: boolean, frag: string): void {
    if (isBid) this.bids = this.bids === '' ? frag : this.bids + ',' + frag;
    else this.asks = this.asks === '' ? frag : this.asks + ',' + frag;
    this.touched = true;
  }
  reset(): void {
    this.bids = '';
    this.asks = '';
    this.touched = false;
  }
}

/** Volatility of the fair mid, relative, per √second (≈ 0.3 %/h calm, 1.5 %/h volatile). */
const SIGMA_CALM = 5e-5;
const SIGMA_VOLATILE = 2.5e-4;
/** Regime durations in seconds: [min, min + span). */
const CALM_SECONDS = [20, 100] as const;
const VOLATILE_SECONDS = [5, 25] as const;
/** Probability that an ordinary change targets the top 10 levels. */
const P_TOP10 = 0.9;
/** Trades kept for a `trade` snapshot (D-trade: "the most recent 50 trades"). */
const TRADE_HISTORY = 50;

export class Market {
  readonly spec: PairSpec;
  private readonly cfg: SimConfig;
  private readonly stats: SimStats;
  private readonly rng: Rng;
  private readonly bids: BookSide;
  private readonly asks: BookSide;
  /** The hidden book is built on first use, so 700 idle pairs cost nothing. */
  private built: boolean;

  private fairMid: number;
  private volatile: boolean;
  private regimeLeft: number;
  private readonly msgsPerSecond: number;

  private readonly groups: DepthGroup[];
  private readonly tradeSubs: Outlet[];
  private readonly tickerSubs: Outlet[];
  /** Book messages owed by the rate loop (fractional carry). */
  due: number;

  private checksum: number;
  /** The top 10 changed since the checksum was last computed. */
  private top10Dirty: boolean;
  /** The current message changed the top 10 (so it reaches every window). */
  private msgTop10: boolean;
  /** Time of the last book change; a snapshot carries it (§6). */
  private lastBookTs: string;

  /** Faults armed by `SimExchange.inject`. */
  corruptNext: boolean;
  dropNext: boolean;
  /**
   * After a dropped message, the changed level may not be touched again until a
   * message has changed the top 10 (and so reached every window): otherwise a
   * later change could silently repair the client's book and the drop would go
   * undetected. -1 = nothing protected.
   */
  private protectedPrice: number;
  private protectedIsBid: boolean;

  private tradeSeq: number;
  private readonly recentTrades: string[];
  private lastTradePx: number;
  private readonly openPx: number;
  private lowPx: number;
  private highPx: number;
  private volumeLots: bigint;
  private notional: bigint;

  private readonly updPrefix: string;
  private readonly snapPrefix: string;
  private readonly zeroQty: string;

  constructor(spec: PairSpec, cfg: SimConfig, stats: SimStats) {
    this.spec = spec;
    this.cfg = cfg;
    this.stats = stats;
    // Per-pair stream: the same seed gives the same book for a pair whatever else runs.
    this.rng = new Rng((cfg.seed ^ Math.imul(spec.index + 1, 0x9e3779b1)) >>> 0);
    this.bids = new BookSide(true, cfg.hiddenDepth + 1);
    this.asks = new BookSide(false, cfg.hiddenDepth + 1);
    this.built = false;
    this.fairMid = spec.startTicks;
    this.volatile = false;
    this.regimeLeft = 0;
    this.msgsPerSecond = cfg.bookRatePerSymbol > 0 ? cfg.bookRatePerSymbol : 1;
    this.groups = [];
    this.tradeSubs = [];
    this.tickerSubs = [];
    this.due = 0;
    this.checksum = 0;
    this.top10Dirty = true;
    this.msgTop10 = false;
    this.lastBookTs = '';
    this.corruptNext = false;
    this.dropNext = false;
    this.protectedPrice = -1;
    this.protectedIsBid = false;
    this.tradeSeq = 0;
    this.recentTrades = [];
    this.lastTradePx = spec.startTicks;
    this.openPx = spec.startTicks;
    this.lowPx = spec.startTicks;
    this.highPx = spec.startTicks;
    this.volumeLots = 0n;
    this.notional = 0n;
    this.updPrefix = '{"channel":"book","type":"update","data":[{"symbol":"' + spec.symbol + '","bids":[';
    this.snapPrefix = '{"channel":"book","type":"snapshot","data":[{"symbol":"' + spec.symbol + '","bids":[';
    this.zeroQty = formatUnits(0, spec.qp);
  }

  /** True while anyone subscribes to this market's book, trades or ticker. */
  get active(): boolean {
    return this.groups.length > 0 || this.tradeSubs.length > 0 || this.tickerSubs.length > 0;
  }

  // ---------------------------------------------------------------- subscriptions

  addBookSub(sub: BookSub): void {
    this.build();
    let g = this.groups.find((x) => x.depth === sub.depth);
    if (g === undefined) {
      g = new DepthGroup(sub.depth);
      this.groups.push(g);
    }
    g.subs.push(sub);
  }

  removeBookSub(sub: BookSub): void {
    const gi = this.groups.findIndex((x) => x.depth === sub.depth);
    const g = this.groups[gi];
    if (g === undefined) return;
    const i = g.subs.indexOf(sub);
    if (i >= 0) g.subs.splice(i, 1);
    if (g.subs.length === 0) this.groups.splice(gi, 1);
  }

  addTradeSub(out: Outlet, snapshot: boolean): void {
    this.build();
    this.tradeSubs.push(out);
    if (snapshot) {
      out.send('{"channel":"trade","type":"snapshot","data":[' + this.recentTrades.join(',') + ']}');
    }
  }

  removeTradeSub(out: Outlet): void {
    const i = this.tradeSubs.indexOf(out);
    if (i >= 0) this.tradeSubs.splice(i, 1);
  }

  addTickerSub(out: Outlet, snapshot: boolean, ts: string): void {
    this.build();
    this.tickerSubs.push(out);
    if (snapshot) out.send('{"channel":"ticker","type":"snapshot","data":[' + this.tickerJson(ts) + ']}');
  }

  removeTickerSub(out: Outlet): void {
    const i = this.tickerSubs.indexOf(out);
    if (i >= 0) this.tickerSubs.splice(i, 1);
  }

  /** Send the current top `sub.depth` levels per side, best first, with the current checksum. */
  sendSnapshot(sub: BookSub): void {
    this.build();
    const d = sub.depth;
    let bids = '';
    const nb = Math.min(d, this.bids.len);
    for (let i = 0; i < nb; i++) bids += (i === 0 ? '' : ',') + this.levelFrag(this.bids, i);
    let asks = '';
    const na = Math.min(d, this.asks.len);
    for (let i = 0; i < na; i++) asks += (i === 0 ? '' : ',') + this.levelFrag(this.asks, i);
    sub.out.sendBook(this.snapPrefix + bids + '],"asks":[' + asks + '],"checksum":' + this.currentChecksum() +
      ',"timestamp":"' + this.lastBookTs + '"}]}');
    if (sub.stale) {
      sub.stale = false;
      sub.out.staleSubs--;
    }
  }

  // ---------------------------------------------------------------- generation

  /**
   * Generate and publish one book message (plus any trades / ticker it causes).
   * `ts` is the message's RFC3339 timestamp.
   */
  step(ts: string): void {
    this.build();
    if (this.dropNext) {
      this.dropNext = false;
      this.lastBookTs = ts;
      this.dropOne();
    } else {
      // The rate counts messages that change the top 10, i.e. what a depth-10
      // subscriber receives. Messages that only change deeper levels come on
      // top of it and reach only deeper subscriptions — as live, where deeper
      // subscriptions see more messages (§14) and deep-only updates repeat the
      // previous checksum (§6).
      for (let extra = 0; extra < 4; extra++) {
        this.bookMessage(ts);
        if (this.msgTop10) break;
      }
    }
    this.generateTrades(ts);
    this.generateTicker(ts);
  }

  private bookMessage(ts: string): void {
    this.evolveFairMid();
    this.lastBookTs = ts;
    this.msgTop10 = false;
    const r = this.rng.next();
    // Mean ≈ 1.6 changes per message (R-DC measured 1.45–2.0 levels per message).
    const changes = r < 0.55 ? 1 : r < 0.85 ? 2 : 3;
    for (let c = 0; c < changes; c++) this.change();
    this.publishBook(ts);
  }

  /** Build the initial hidden book around the start price. */
  private build(): void {
    if (this.built) return;
    this.built = true;
    const rng = this.rng;
    const start = this.spec.startTicks;
    const spread = 1 + rng.int(Math.ceil(2 * this.spec.gapMean));
    const bb = Math.max(1, Math.round(start - spread / 2));
    const ba = bb + spread;
    const depth = this.cfg.hiddenDepth;
    for (let p = bb; this.bids.len < depth && p >= 1; p -= this.gap()) this.bids.insertAt(this.bids.len, p, this.drawQty());
    for (let p = ba; this.asks.len < depth; p += this.gap()) this.asks.insertAt(this.asks.len, p, this.drawQty());
    this.fairMid = (bb + ba) / 2;
    this.lastBookTs = isoMicros();
    this.volumeLots = BigInt(Math.round(this.spec.typicalLots * (100 + rng.int(400))));
    this.notional = this.volumeLots * BigInt(start);
    this.startRegime();
  }

  private startRegime(): void {
    const [min, span] = this.volatile ? VOLATILE_SECONDS : CALM_SECONDS;
    this.regimeLeft = Math.ceil((min + this.rng.next() * span) * this.msgsPerSecond);
  }

  private evolveFairMid(): void {
    if (--this.regimeLeft <= 0) {
      this.volatile = !this.volatile;
      this.startRegime();
    }
    const sigma = (this.volatile ? SIGMA_VOLATILE : SIGMA_CALM) / Math.sqrt(this.msgsPerSecond);
    let m = this.fairMid * Math.exp(sigma * this.rng.normal());
    const start = this.spec.startTicks;
    const lo = Math.max(3, start / 20);
    if (m < lo) m = lo;
    else if (m > start * 20) m = start * 20;
    this.fairMid = m;
  }

  /** One level change of an ordinary message. */
  private change(): void {
    const rng = this.rng;
    const { bids, asks } = this;
    const bb = bids.priceAt(0);
    const ba = asks.priceAt(0);
    const gapMean = this.spec.gapMean;
    const pull = (this.fairMid - (bb + ba) / 2) / gapMean;
    const absPull = pull < 0 ? -pull : pull;
    // 1. Follow the fair mid: consume the side it moved into, or improve the other side.
    if (absPull > 0.5 && rng.next() < Math.min(0.8, absPull * 0.25)) {
      const toward = pull > 0 ? bids : asks;
      const away = pull > 0 ? asks : bids;
      if (ba - bb >= 2 && rng.next() < 0.5 && this.insertInSpread(toward)) return;
      if (this.deleteAt(away, 0)) return;
    }
    // 2. A spread left wide gets filled in.
    if (ba - bb > 4 * gapMean + 2 && rng.next() < 0.5 && this.insertInSpread(rng.next() < 0.5 ? bids : asks)) return;
    // 3. Ordinary activity.
    const side = rng.next() < 0.5 ? bids : asks;
    const u = rng.next();
    const i = this.pickIndex(side);
    if (u < 0.6) this.modifyAt(side, i);
    else if (u < 0.8) {
      if (!this.insertNear(side, i)) this.modifyAt(side, i);
    } else if (!this.deleteAt(side, i)) this.modifyAt(side, i);
  }

  /**
   * The dropped message of a `drop-message` fault: a qty change of the best bid,
   * applied but sent to nobody. The best bid is in every window and in the
   * checksum, so the next message that reaches a client must mismatch.
   */
  private dropOne(): void {
    const old = this.bids.qtyAt(0);
    let q = this.drawQty();
    if (q === old) q = old + 1;
    this.bids.setQty(0, q);
    this.top10Dirty = true;
    this.protectedPrice = this.bids.priceAt(0);
    this.protectedIsBid = true;
  }

  /** Level index for an ordinary change: mostly the top 10, sometimes log-uniform deeper. */
  private pickIndex(side: BookSide): number {
    const rng = this.rng;
    const len = side.len;
    let i: number;
    if (len <= CHECKSUM_LEVELS || rng.next() < P_TOP10) {
      i = Math.floor(-Math.log(1 - rng.next()) * 3);
      if (i >= CHECKSUM_LEVELS) i = rng.int(CHECKSUM_LEVELS);
    } else {
      i = Math.floor(CHECKSUM_LEVELS * Math.pow(len / CHECKSUM_LEVELS, rng.next()));
    }
    return i < len ? i : len - 1;
  }

  private isProtected(side: BookSide, i: number): boolean {
    return this.protectedPrice >= 0 && side.isBid === this.protectedIsBid && side.priceAt(i) === this.protectedPrice;
  }

  private modifyAt(side: BookSide, i: number): void {
    if (side.len === 0) return;
    if (this.isProtected(side, i)) {
      if (i + 1 >= side.len) return;
      i++;
    }
    const old = side.qtyAt(i);
    let q: number;
    if (this.rng.next() < 0.5) {
      // Partial fill or add: a change proportional to what rests there.
      q = Math.round(old * (1 + 0.3 * this.rng.normal()));
      if (q < 1) q = 1;
      if (q > MAX_UNITS / 64) q = old;
    } else {
      q = this.drawQty();
    }
    if (q === old) q = old > 1 ? old - 1 : old + 1;
    side.setQty(i, q);
    this.onModify(side, i);
  }

  /** Insert a level strictly between the best bid and best ask, near `side`'s touch. */
  private insertInSpread(side: BookSide): boolean {
    const bb = this.bids.priceAt(0);
    const ba = this.asks.priceAt(0);
    const room = ba - bb - 1;
    if (room < 1) return false;
    const off = this.rng.int(Math.min(room, Math.ceil(this.spec.gapMean)));
    const price = side.isBid ? bb + 1 + off : ba - 1 - off;
    this.insertLevel(side, 0, price);
    return true;
  }

  /**
   * Insert a level at or just below index `i`: at a free price between two
   * neighbours, or beyond the worst level. Never crosses the book: bid prices
   * stay below the best ask because they are below an existing bid (or inside
   * the spread for i = 0), and symmetrically for asks.
   */
  private insertNear(side: BookSide, i: number): boolean {
    if (i === 0) return this.insertInSpread(side);
    for (let j = i, tries = 0; tries < 8; j++, tries++) {
      if (j >= side.len) return this.appendWorse(side);
      const a = side.priceAt(j - 1);
      const b = side.priceAt(j);
      const lo = a < b ? a : b;
      const gap = a < b ? b - a : a - b;
      if (gap >= 2) {
        this.insertLevel(side, j, lo + 1 + this.rng.int(gap - 1));
        return true;
      }
    }
    return false;
  }

  /** Put a new worst level on the side if the hidden book has room for it. */
  private appendWorse(side: BookSide): boolean {
    const len = side.len;
    if (len === 0 || len >= this.cfg.hiddenDepth) return false;
    const worst = side.priceAt(len - 1);
    const g = this.gap();
    const price = side.isBid ? worst - g : worst + g;
    if (price < 1) return false; // bids cannot go below one tick
    this.insertLevel(side, len, price);
    return true;
  }

  private insertLevel(side: BookSide, i: number, price: number): void {
    side.insertAt(i, price, this.drawQty());
    this.onInsert(side, i);
    // Keep the hidden book at hiddenDepth: the far end (beyond every window) drops off.
    if (side.len > this.cfg.hiddenDepth) {
      const last = side.len - 1;
      const p = side.priceAt(last);
      side.removeAt(last);
      this.onRemove(side, last, p);
    }
  }

  private deleteAt(side: BookSide, i: number): boolean {
    if (side.len <= 1 || this.isProtected(side, i)) return false;
    const price = side.priceAt(i);
    side.removeAt(i);
    this.onRemove(side, i, price);
    this.appendWorse(side); // refill the far end
    return true;
  }

  // ---------------------------------------------------------------- window translation

  private onInsert(side: BookSide, i: number): void {
    if (i < CHECKSUM_LEVELS) this.top10Dirty = this.msgTop10 = true;
    let frag: string | null = null;
    for (const g of this.groups) {
      if (i < g.depth) {
        if (frag === null) frag = this.levelFrag(side, i);
        g.add(side.isBid, frag);
      }
    }
  }

  private onModify(side: BookSide, i: number): void {
    this.onInsert(side, i); // same wire effect: the level with its current qty
  }

  /** `i` is the index the level had; it has already been removed from `side`. */
  private onRemove(side: BookSide, i: number, price: number): void {
    if (i < CHECKSUM_LEVELS) this.top10Dirty = this.msgTop10 = true;
    let del: string | null = null;
    for (const g of this.groups) {
      if (i < g.depth) {
        if (del === null) del = '{"price":' + formatUnits(price, this.spec.pp) + ',"qty":' + this.zeroQty + '}';
        g.add(side.isBid, del);
        // Replenish: the level that moved up into the window's last slot.
        if (side.len >= g.depth) g.add(side.isBid, this.levelFrag(side, g.depth - 1));
      }
    }
  }

  /** `{"price":<p>,"qty":<q>}` with both numbers at full precision (trailing zeros kept). */
  private levelFrag(side: BookSide, i: number): string {
    return '{"price":' + formatUnits(side.priceAt(i), this.spec.pp) + ',"qty":' +
      formatUnits(side.qtyAt(i), this.spec.qp) + '}';
  }

  private currentChecksum(): number {
    if (this.top10Dirty) {
      this.checksum = bookChecksum(this.asks, this.bids);
      this.top10Dirty = false;
    }
    return this.checksum;
  }

  /** Send the accumulated per-depth updates of this message. */
  private publishBook(ts: string): void {
    // Broken invariant: a crossed book means the model is wrong — crash loudly.
    if (this.bids.priceAt(0) >= this.asks.priceAt(0)) {
      throw new Error(`kraken-sim: crossed book on ${this.spec.symbol}`);
    }
    let any = false;
    for (const g of this.groups) if (g.touched) any = true;
    if (this.msgTop10) this.protectedPrice = -1;
    if (!any) return;
    let ck = this.currentChecksum();
    if (this.corruptNext) {
      this.corruptNext = false;
      ck = (ck ^ 0x2d) >>> 0; // any other value; the book itself stays right
    }
    const tail = '],"checksum":' + ck + ',"timestamp":"' + ts + '"}]}';
    for (const g of this.groups) {
      if (!g.touched) continue;
      const frame = this.updPrefix + g.bids + '],"asks":[' + g.asks + tail;
      g.reset();
      for (const sub of g.subs) {
        if (sub.stale || sub.out.slow) {
          if (!sub.stale) {
            sub.stale = true;
            sub.out.staleSubs++;
          }
          this.stats.framesSkippedSlowClient++;
          continue;
        }
        sub.out.sendBook(frame);
      }
    }
  }

  // ---------------------------------------------------------------- trades and ticker

  private generateTrades(ts: string): void {
    const ratio = this.cfg.tradeRatio;
    const whole = Math.floor(ratio);
    const n = whole + (this.rng.next() < ratio - whole ? 1 : 0);
    for (let k = 0; k < n; k++) this.trade(ts);
  }

  /** A taker trade at the touch (buy lifts the best ask, sell hits the best bid); the book is not changed by it. */
  private trade(ts: string): void {
    const rng = this.rng;
    const buy = rng.next() < 0.5;
    const side = buy ? this.asks : this.bids;
    const px = side.priceAt(0);
    const u = rng.next();
    const qty = Math.max(1, Math.floor(side.qtyAt(0) * (0.02 + 0.98 * u * u)));
    const ordType = rng.next() < 0.65 ? 'market' : 'limit';
    const id = ++this.tradeSeq;
    this.lastTradePx = px;
    if (px < this.lowPx) this.lowPx = px;
    if (px > this.highPx) this.highPx = px;
    this.volumeLots += BigInt(qty);
    this.notional += BigInt(px) * BigInt(qty);
    const rec = '{"symbol":"' + this.spec.symbol + '","side":"' + (buy ? 'buy' : 'sell') + '","price":' +
      formatUnits(px, this.spec.pp) + ',"qty":' + formatUnits(qty, this.spec.qp) + ',"ord_type":"' + ordType +
      '","trade_id":' + id + ',"timestamp":"' + ts + '"}';
    this.recentTrades.push(rec);
    if (this.recentTrades.length > TRADE_HISTORY) this.recentTrades.shift();
    if (this.tradeSubs.length > 0) {
      const frame = '{"channel":"trade","type":"update","data":[' + rec + ']}';
      this.deliver(this.tradeSubs, frame);
    }
  }

  private generateTicker(ts: string): void {
    const ratio = this.cfg.tickerRatio;
    const whole = Math.floor(ratio);
    const n = whole + (this.rng.next() < ratio - whole ? 1 : 0);
    if (n === 0 || this.tickerSubs.length === 0) return;
    const frame = '{"channel":"ticker","type":"update","data":[' + this.tickerJson(ts) + ']}';
    for (let k = 0; k < n; k++) this.deliver(this.tickerSubs, frame);
  }

  /** Ticker fields (D-ticker); all prices and quantities exact. */
  private tickerJson(ts: string): string {
    const { pp, qp } = this.spec;
    const change = this.lastTradePx - this.openPx;
    let pct = ((change / this.openPx) * 100).toFixed(2);
    if (pct === '-0.00') pct = '0.00';
    const vwap = this.volumeLots > 0n ? this.notional / this.volumeLots : BigInt(this.lastTradePx);
    return '{"symbol":"' + this.spec.symbol + '","bid":' + formatUnits(this.bids.priceAt(0), pp) + ',"bid_qty":' +
      formatUnits(this.bids.qtyAt(0), qp) + ',"ask":' + formatUnits(this.asks.priceAt(0), pp) + ',"ask_qty":' +
      formatUnits(this.asks.qtyAt(0), qp) + ',"last":' + formatUnits(this.lastTradePx, pp) + ',"volume":' +
      formatDigits(this.volumeLots.toString(), qp) + ',"vwap":' + formatDigits(vwap.toString(), pp) + ',"low":' +
      formatUnits(this.lowPx, pp) + ',"high":' + formatUnits(this.highPx, pp) + ',"change":' +
      formatSignedUnits(change, pp) + ',"change_pct":' + pct + ',"timestamp":"' + ts + '"}';
  }

  /** Trades and tickers are not stateful: a slow client simply misses them. */
  private deliver(outs: readonly Outlet[], frame: string): void {
    for (const out of outs) {
      if (out.slow) this.stats.framesSkippedSlowClient++;
      else out.send(frame);
    }
  }

  // ---------------------------------------------------------------- random draws

  /** Distance to the next level in ticks: 1 + exponential, mean `gapMean`. */
  private gap(): number {
    return 1 + Math.floor(-Math.log(1 - this.rng.next()) * (this.spec.gapMean - 1));
  }

  /**
   * A resting quantity in lots: lognormal around the pair's typical size; about a
   * third are round numbers (e.g. 0.10000000), which exercise trailing zeros.
   */
  private drawQty(): number {
    const rng = this.rng;
    let q = Math.round(this.spec.typicalLots * Math.exp(0.9 * rng.normal() - 0.4));
    if (q < 1) q = 1;
    if (q > MAX_UNITS / 64) q = MAX_UNITS / 64;
    if (rng.next() < 0.35 && q >= 10) {
      const mag = 10 ** Math.max(0, Math.floor(Math.log10(q)) - rng.int(2));
      q = Math.max(mag, Math.round(q / mag) * mag);
    }
    return q;
  }
}
