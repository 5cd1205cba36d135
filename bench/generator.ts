/**
 * Synthetic Kraken WebSocket v2 streams for the benchmarks and their tests: raw frame Buffers
 * in exactly the wire shape of Kraken v2 book messages, with correct "maintain depth" semantics and
 * checksums.
 *
 * Book streams: a snapshot at the subscribed depth, then updates of 1 (60 %), 2 (30 %) or 3
 * (10 %) changes. A change modifies a quantity (60 %), inserts a level (20 %; the level pushed
 * past the window is dropped silently, as Kraken does) or deletes one (20 %, qty 0, followed in
 * the same message by the next level of a hidden deeper book, which enters at the bottom).
 * Half of the changes target the top 10 positions; the rest fall uniformly over the depth.
 * Prices and quantities go on the wire at full precision (`"qty":0.10000000`).
 *
 * Every checksum is computed by `referenceChecksum`, a deliberately naive implementation of
 * the documented algorithm (BigInt → decimal strings, `.` and leading zeros removed,
 * `zlib.crc32`) that shares no code with actors/book.ts.
 *
 * `ccxtCompat` streams never put a zero in a price's last decimal or a quantity's last
 * decimal, so the shortest JS form of every parsed number equals its full-precision text and
 * ccxt's checksum (which formats parsed numbers) agrees with Kraken's. The frames have the
 * same shape and length distribution as the realistic ones.
 *
 * Everything is deterministic for a given seed.
 */
import { crc32 } from 'node:zlib';

export interface InstrumentSpec {
  readonly symbol: string;
  readonly pricePrecision: number;
  readonly qtyPrecision: number;
  /** Mid price at the start, in ticks (10^-pricePrecision). */
  readonly midTicks: number;
  /** Typical order size in whole units (quantities scale with it). */
  readonly unitSize: number;
}

/** The four instruments of the end-to-end mix, with Kraken's precisions (price/qty). */
export const INSTRUMENTS: readonly InstrumentSpec[] = [
  { symbol: 'BTC/USD', pricePrecision: 1, qtyPrecision: 8, midTicks: 452_835, unitSize: 1 },
  { symbol: 'ETH/USD', pricePrecision: 2, qtyPrecision: 8, midTicks: 245_678, unitSize: 10 },
  { symbol: 'SOL/USD', pricePrecision: 2, qtyPrecision: 8, midTicks: 98_765, unitSize: 100 },
  { symbol: 'XRP/USD', pricePrecision: 5, qtyPrecision: 8, midTicks: 52_345, unitSize: 10_000 },
];

export function instrument(symbol: string): InstrumentSpec {
  const s = INSTRUMENTS.find((i) => i.symbol === symbol);
  if (s === undefined) throw new Error(`generator: unknown instrument ${symbol}`);
  return s;
}

// ------------------------------------------------------------------ PRNG

/** mulberry32: small, fast, deterministic; plenty for test data. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
}

// ------------------------------------------------------------------ reference formatting and checksum

/** `v × 10^-precision` as decimal text with exactly `precision` fraction digits (BigInt, no doubles). */
export function fixedText(v: number, precision: number): string {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`generator: not a non-negative safe integer: ${v}`);
  const s = BigInt(v).toString().padStart(precision + 1, '0');
  return precision === 0 ? s : `${s.slice(0, s.length - precision)}.${s.slice(s.length - precision)}`;
}

export interface TextLevel {
  readonly price: string;
  readonly qty: string;
}

function checksumPart(text: string): string {
  return text.replace('.', '').replace(/^0+/, '');
}

/**
 * Kraken v2 checksum, literally as documented (kraken-v2.md §7): the top 10 asks (best
 * first, i.e. price ascending) then the top 10 bids (price descending); per level the price
 * text then the qty text, each with `.` removed and leading zeros removed; CRC32 of the
 * ASCII string as an unsigned integer. Inputs are full-precision wire texts, best first.
 */
export function referenceChecksum(asks: readonly TextLevel[], bids: readonly TextLevel[]): number {
  let s = '';
  for (let i = 0; i < asks.length && i < 10; i++) s += checksumPart(asks[i]!.price) + checksumPart(asks[i]!.qty);
  for (let i = 0; i < bids.length && i < 10; i++) s += checksumPart(bids[i]!.price) + checksumPart(bids[i]!.qty);
  return crc32(s) >>> 0;
}

// ------------------------------------------------------------------ the generator's book

interface Level {
  ticks: number;
  lots: number;
}

interface Change {
  bid: boolean;
  ticks: number;
  lots: number;
}

const ROUND_SIZES = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

/**
 * One instrument's full book (visible window + hidden deeper levels), mutated by random
 * changes that are emitted exactly as Kraken would send them for a `depth` subscription.
 */
export class BookGenerator {
  /** Best first: bids descending, asks ascending. Includes the hidden levels beyond `depth`. */
  private readonly bids: Level[] = [];
  private readonly asks: Level[] = [];
  private readonly lotsPerUnit: number;
  private readonly minHidden: number;
  private readonly maxHidden: number;
  /** Event time of the last frame, epoch µs. */
  timeUs: number;
  tradeId = 1_000_000;
  /** Statistics over the changes emitted so far. */
  readonly stats = { updates: 0, changes: [0, 0, 0, 0], modify: 0, insert: 0, delete: 0, replenish: 0, top10: 0, insertFallbacks: 0 };

  constructor(
    readonly spec: InstrumentSpec,
    readonly depth: number,
    readonly ccxtCompat: boolean,
    private readonly rng: Prng,
    startUs: number,
  ) {
    this.lotsPerUnit = 10 ** spec.qtyPrecision;
    this.minHidden = 8;
    this.maxHidden = Math.max(32, depth >> 1);
    this.timeUs = startUs;
    // Build both sides outwards from the mid with gaps of 1–4 ticks.
    let b = spec.midTicks - 1;
    let a = spec.midTicks + 1;
    const n = depth + this.minHidden + ((this.maxHidden - this.minHidden) >> 1);
    for (let i = 0; i < n; i++) {
      b = this.validTick(b, -1);
      a = this.validTick(a, +1);
      this.bids.push({ ticks: b, lots: this.randomLots() });
      this.asks.push({ ticks: a, lots: this.randomLots() });
      b -= this.rng.int(1, 4);
      a += this.rng.int(1, 4);
    }
    if (this.bids[this.bids.length - 1]!.ticks <= 0) throw new Error(`generator: ${spec.symbol} mid too low for depth ${depth}`);
  }

  private priceOk(t: number): boolean {
    return t > 0 && (!this.ccxtCompat || this.spec.pricePrecision === 0 || t % 10 !== 0);
  }

  private validTick(t: number, dir: number): number {
    while (!this.priceOk(t)) t += dir;
    return t;
  }

  /** A random order size in lots; realistic streams have many trailing zeros. */
  randomLots(): number {
    const r = this.rng.next();
    let lots: number;
    if (r < 0.35) {
      const units = ROUND_SIZES[this.rng.int(0, ROUND_SIZES.length - 1)]! * this.spec.unitSize;
      lots = Math.round(units * this.lotsPerUnit);
    } else {
      // log-uniform 1e-4 … 20 typical units, keeping 1…qtyPrecision decimals
      const units = Math.exp(Math.log(1e-4) + this.rng.next() * (Math.log(20) - Math.log(1e-4))) * this.spec.unitSize;
      const keep = this.rng.int(1, this.spec.qtyPrecision);
      const q = 10 ** (this.spec.qtyPrecision - keep);
      lots = Math.round((units * this.lotsPerUnit) / q) * q;
    }
    if (lots < 1) lots = 1;
    if (this.ccxtCompat && lots % 10 === 0) lots += this.rng.int(1, 9);
    return lots;
  }

  private side(bid: boolean): Level[] {
    return bid ? this.bids : this.asks;
  }

  /** Keep enough hidden levels for replenishment, and not unboundedly many. */
  private refill(bid: boolean): void {
    const s = this.side(bid);
    while (s.length < this.depth + this.minHidden) {
      const last = s[s.length - 1]!.ticks;
      const t = this.validTick(bid ? last - this.rng.int(1, 4) : last + this.rng.int(1, 4), bid ? -1 : +1);
      if (t <= 0) throw new Error(`generator: ${this.spec.symbol} bid side ran out of prices`);
      s.push({ ticks: t, lots: this.randomLots() });
    }
    while (s.length > this.depth + this.maxHidden) s.pop();
  }

  /** A position in the window: half in the top 10, half uniform over the depth. */
  private position(): number {
    return this.rng.next() < 0.5 ? this.rng.int(0, Math.min(10, this.depth) - 1) : this.rng.int(0, this.depth - 1);
  }

  /** One random change applied to the book; returns the levels Kraken would send for it. */
  private change(out: Change[]): void {
    const bid = this.rng.next() < 0.5;
    const s = this.side(bid);
    const pos = this.position();
    const r = this.rng.next();
    if (pos < 10) this.stats.top10++;
    if (r < 0.2 && this.insert(bid, pos, out)) return;
    if (r >= 0.2 && r < 0.4) {
      // delete, then the first hidden level enters the window at the bottom
      const gone = s.splice(pos, 1)[0]!;
      out.push({ bid, ticks: gone.ticks, lots: 0 });
      this.stats.delete++;
      this.refill(bid);
      const entering = s[this.depth - 1]!;
      out.push({ bid, ticks: entering.ticks, lots: entering.lots });
      this.stats.replenish++;
      return;
    }
    // modify (or an insert that found no free price)
    const lv = s[pos]!;
    let lots = this.randomLots();
    while (lots === lv.lots) lots = this.randomLots();
    lv.lots = lots;
    out.push({ bid, ticks: lv.ticks, lots });
    this.stats.modify++;
  }

  /** Insert a new level so that it lands at `pos` or the first later position with a free price. */
  private insert(bid: boolean, pos: number, out: Change[]): boolean {
    const s = this.side(bid);
    for (let p = pos; p < this.depth; p++) {
      // the new price lies strictly between `outer` (better, or the opposite best) and s[p]
      const outer = p === 0 ? this.side(!bid)[0]!.ticks : s[p - 1]!.ticks;
      const inner = s[p]!.ticks;
      const lo = Math.min(outer, inner) + 1;
      const hi = Math.max(outer, inner) - 1;
      if (lo > hi) continue;
      let t = this.rng.int(lo, hi);
      let tries = 0;
      while (!this.priceOk(t) && tries++ < 16) t = this.rng.int(lo, hi);
      if (!this.priceOk(t)) continue;
      const lots = this.randomLots();
      s.splice(p, 0, { ticks: t, lots });
      out.push({ bid, ticks: t, lots });
      this.stats.insert++;
      this.refill(bid);
      return true;
    }
    this.stats.insertFallbacks++;
    return false;
  }

  /** Advance the event clock by 20 µs … 2 ms and return the RFC 3339 timestamp. */
  tick(): string {
    this.timeUs += this.rng.int(20, 2000);
    return timestampText(this.timeUs);
  }

  levelText(bid: boolean, i: number): TextLevel {
    const lv = this.side(bid)[i]!;
    return { price: fixedText(lv.ticks, this.spec.pricePrecision), qty: fixedText(lv.lots, this.spec.qtyPrecision) };
  }

  /** The visible window (top `depth` levels) as wire texts, best first. */
  window(): { bids: TextLevel[]; asks: TextLevel[] } {
    const bids: TextLevel[] = [];
    const asks: TextLevel[] = [];
    for (let i = 0; i < this.depth; i++) {
      bids.push(this.levelText(true, i));
      asks.push(this.levelText(false, i));
    }
    return { bids, asks };
  }

  checksum(): number {
    const top = (bid: boolean) => {
      const r: TextLevel[] = [];
      for (let i = 0; i < 10 && i < this.depth; i++) r.push(this.levelText(bid, i));
      return r;
    };
    return referenceChecksum(top(false), top(true));
  }

  private levelJson(bid: boolean, i: number): string {
    const t = this.levelText(bid, i);
    return `{"price":${t.price},"qty":${t.qty}}`;
  }

  snapshotFrame(): { text: string; checksum: number } {
    const bids: string[] = [];
    const asks: string[] = [];
    for (let i = 0; i < this.depth; i++) {
      bids.push(this.levelJson(true, i));
      asks.push(this.levelJson(false, i));
    }
    const checksum = this.checksum();
    const ts = this.tick();
    return {
      text: `{"channel":"book","type":"snapshot","data":[{"symbol":"${this.spec.symbol}","bids":[${bids.join(',')}],"asks":[${asks.join(',')}],"checksum":${checksum},"timestamp":"${ts}"}]}`,
      checksum,
    };
  }

  updateFrame(): { text: string; checksum: number } {
    const r = this.rng.next();
    const n = r < 0.6 ? 1 : r < 0.9 ? 2 : 3;
    const changes: Change[] = [];
    for (let k = 0; k < n; k++) this.change(changes);
    this.stats.updates++;
    this.stats.changes[n]!++;
    const pp = this.spec.pricePrecision;
    const qp = this.spec.qtyPrecision;
    const lv = (c: Change) => `{"price":${fixedText(c.ticks, pp)},"qty":${fixedText(c.lots, qp)}}`;
    const bids = changes.filter((c) => c.bid).map(lv);
    const asks = changes.filter((c) => !c.bid).map(lv);
    // Bids and asks are separate arrays on the wire; within a side, wire order is application
    // order. Sides never interact, so applying bids before asks gives the generator's state.
    const checksum = this.checksum();
    const ts = this.tick();
    return {
      text: `{"channel":"book","type":"update","data":[{"symbol":"${this.spec.symbol}","bids":[${bids.join(',')}],"asks":[${asks.join(',')}],"checksum":${checksum},"timestamp":"${ts}"}]}`,
      checksum,
    };
  }

  tradeFrame(): string {
    const buy = this.rng.next() < 0.5;
    const lv = buy ? this.asks[0]! : this.bids[0]!;
    const lots = Math.min(this.randomLots(), lv.lots);
    const ts = this.tick();
    return (
      `{"channel":"trade","type":"update","data":[{"symbol":"${this.spec.symbol}","side":"${buy ? 'buy' : 'sell'}",` +
      `"price":${fixedText(lv.ticks, this.spec.pricePrecision)},"qty":${fixedText(lots, this.spec.qtyPrecision)},` +
      `"ord_type":"${this.rng.next() < 0.7 ? 'market' : 'limit'}","trade_id":${this.tradeId++},"timestamp":"${ts}"}]}`
    );
  }

  tickerFrame(): string {
    const pp = this.spec.pricePrecision;
    const qp = this.spec.qtyPrecision;
    const b = this.bids[0]!;
    const a = this.asks[0]!;
    const span = Math.max(10, Math.round(this.spec.midTicks * 0.02));
    const low = b.ticks - this.rng.int(1, span);
    const high = a.ticks + this.rng.int(1, span);
    const open = this.rng.int(low, high);
    const change = b.ticks - open;
    const changePct = Math.round((change / open) * 10000) / 100;
    const ts = this.tick();
    return (
      `{"channel":"ticker","type":"update","data":[{"symbol":"${this.spec.symbol}",` +
      `"bid":${fixedText(b.ticks, pp)},"bid_qty":${fixedText(b.lots, qp)},"ask":${fixedText(a.ticks, pp)},"ask_qty":${fixedText(a.lots, qp)},` +
      `"last":${fixedText(this.rng.next() < 0.5 ? b.ticks : a.ticks, pp)},"volume":${fixedText(this.rng.int(1, 2 ** 40), qp)},` +
      `"vwap":${fixedText(this.rng.int(low, high), pp)},"low":${fixedText(low, pp)},"high":${fixedText(high, pp)},` +
      `"change":${change < 0 ? '-' : ''}${fixedText(Math.abs(change), pp)},"change_pct":${changePct},"timestamp":"${ts}"}]}`
    );
  }
}

/** Epoch µs → `2026-08-16T23:37:03.745044Z`. */
export function timestampText(us: number): string {
  const iso = new Date(Math.floor(us / 1000)).toISOString(); // …T23:37:03.745Z
  return `${iso.slice(0, 23)}${String(us % 1000).padStart(3, '0')}Z`;
}

/** 2026-08-16T23:37:03Z, a fixed origin so streams are identical across runs. */
export const DEFAULT_START_US = Date.UTC(2026, 7, 16, 23, 37, 3) * 1000;

// ------------------------------------------------------------------ streams

export interface BookStreamOptions {
  symbol?: string;
  depth: number;
  /** Updates after the snapshot. */
  updates: number;
  seed: number;
  ccxtCompat?: boolean;
}

export interface BookStream {
  readonly spec: InstrumentSpec;
  readonly depth: number;
  readonly ccxtCompat: boolean;
  /** frames[0] is the snapshot, then `updates` update frames. */
  readonly frames: Buffer[];
  readonly texts: string[];
  /** The checksum each frame carries (reference implementation). */
  readonly checksums: number[];
  /** Per frame: 1 when the top 10 (the checksummed part) changed relative to the previous frame. */
  readonly top10Changed: Uint8Array;
  /** The visible book after the last frame, wire texts, best first. */
  readonly finalBook: { bids: TextLevel[]; asks: TextLevel[] };
  readonly stats: BookGenerator['stats'] & { bytes: { snapshot: number; p5: number; p50: number; p95: number; mean: number } };
}

export function generateBookStream(opts: BookStreamOptions): BookStream {
  const spec = instrument(opts.symbol ?? 'BTC/USD');
  const compat = opts.ccxtCompat === true;
  const g = new BookGenerator(spec, opts.depth, compat, new Prng(opts.seed), DEFAULT_START_US);
  const texts: string[] = [];
  const checksums: number[] = [];
  const top10Changed = new Uint8Array(opts.updates + 1);
  const snap = g.snapshotFrame();
  texts.push(snap.text);
  checksums.push(snap.checksum);
  top10Changed[0] = 1;
  for (let i = 1; i <= opts.updates; i++) {
    const u = g.updateFrame();
    texts.push(u.text);
    checksums.push(u.checksum);
    top10Changed[i] = u.checksum !== checksums[i - 1] ? 1 : 0;
  }
  const sizes = texts.slice(1).map((t) => Buffer.byteLength(t)).sort((a, b) => a - b);
  const q = (p: number) => sizes[Math.min(sizes.length - 1, Math.floor(p * sizes.length))] ?? 0;
  return {
    spec,
    depth: opts.depth,
    ccxtCompat: compat,
    frames: texts.map((t) => Buffer.from(t)),
    texts,
    checksums,
    top10Changed,
    finalBook: g.window(),
    stats: {
      ...g.stats,
      bytes: {
        snapshot: Buffer.byteLength(texts[0]!),
        p5: q(0.05),
        p50: q(0.5),
        p95: q(0.95),
        mean: sizes.length === 0 ? 0 : Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length),
      },
    },
  };
}

export const FrameKind = { BOOK: 0, TRADE: 1, TICKER: 2 } as const;

export interface MixStreamOptions {
  depth: number;
  /** Frames after the initial snapshots. */
  frames: number;
  seed: number;
  instruments?: readonly InstrumentSpec[];
}

export interface MixStream {
  readonly depth: number;
  readonly instruments: readonly InstrumentSpec[];
  /** One snapshot per instrument first, then ≈85 % book updates, 10 % trades, 5 % tickers. */
  readonly frames: Buffer[];
  readonly kinds: Uint8Array;
  readonly counts: { snapshots: number; book: number; trade: number; ticker: number };
  /** Book frames (snapshot included) per symbol. */
  readonly bookFramesBySymbol: Record<string, number>;
  readonly tradesBySymbol: Record<string, number>;
  readonly finalBooks: Record<string, { bids: TextLevel[]; asks: TextLevel[] }>;
  readonly meanBytes: number;
}

/** The end-to-end mix over several instruments (realistic numbers, trailing zeros). */
export function generateMixStream(opts: MixStreamOptions): MixStream {
  const instruments = opts.instruments ?? INSTRUMENTS;
  const rng = new Prng(opts.seed);
  const gens = instruments.map((spec, i) => new BookGenerator(spec, opts.depth, false, new Prng(opts.seed * 31 + i + 1), DEFAULT_START_US));
  const texts: string[] = [];
  const kinds: number[] = [];
  const counts = { snapshots: 0, book: 0, trade: 0, ticker: 0 };
  const bookFramesBySymbol: Record<string, number> = {};
  const tradesBySymbol: Record<string, number> = {};
  for (const g of gens) {
    texts.push(g.snapshotFrame().text);
    kinds.push(FrameKind.BOOK);
    counts.snapshots++;
    bookFramesBySymbol[g.spec.symbol] = 1;
    tradesBySymbol[g.spec.symbol] = 0;
  }
  for (let i = 0; i < opts.frames; i++) {
    const g = gens[rng.int(0, gens.length - 1)]!;
    const r = rng.next();
    if (r < 0.85) {
      texts.push(g.updateFrame().text);
      kinds.push(FrameKind.BOOK);
      counts.book++;
      bookFramesBySymbol[g.spec.symbol]!++;
    } else if (r < 0.95) {
      texts.push(g.tradeFrame());
      kinds.push(FrameKind.TRADE);
      counts.trade++;
      tradesBySymbol[g.spec.symbol]!++;
    } else {
      texts.push(g.tickerFrame());
      kinds.push(FrameKind.TICKER);
      counts.ticker++;
    }
  }
  const finalBooks: Record<string, { bids: TextLevel[]; asks: TextLevel[] }> = {};
  for (const g of gens) finalBooks[g.spec.symbol] = g.window();
  const frames = texts.map((t) => Buffer.from(t));
  const body = frames.slice(gens.length);
  return {
    depth: opts.depth,
    instruments,
    frames,
    kinds: Uint8Array.from(kinds),
    counts,
    bookFramesBySymbol,
    tradesBySymbol,
    finalBooks,
    meanBytes: body.length === 0 ? 0 : Math.round(body.reduce((a, f) => a + f.length, 0) / body.length),
  };
}
