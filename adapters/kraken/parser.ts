/**
 * Kraken v2 frame decoding.
 *
 * Book frames — the bulk of the feed — are read by a byte scanner straight from the socket's
 * Buffer into a reused LevelBatch: no JSON.parse, no string per number, exact decimal digits
 * (measured on this machine class: 0.3–0.5 µs for a ~210 B update against 1.6–3.0 µs for
 * JSON.parse; docs/benchmarks.md). The scanner only accepts the exact shape Kraken sends
 * (`{"channel":"book","type":...,"data":[{...}]}`, compact, plain decimals); anything else
 * returns false and the frame takes the general path: every JSON number token is turned into
 * a string before JSON.parse ("lossless" parse), so no price, quantity or 64-bit id is ever
 * rounded through a double, and the same LevelBatch is filled from the decimal strings.
 */
import { DecimalParts, MAX_FRACTION_DIGITS, parseDecimal, POW10 } from '../../actors/decimal.js';
import { LevelBatch, Side } from '../../actors/levels.js';

const PREFIX = Buffer.from('{"channel":"book","type":"');
const DATA = Buffer.from('","data":[');
const MAX_INT_DIGITS = 15;
const L_BUY = Buffer.from('"buy"');
const L_SELL = Buffer.from('"sell"');
const L_SNAPSHOT = Buffer.from('snapshot');
const L_UPDATE = Buffer.from('update');
const W_ASKS = Buffer.from('asks');
const W_BIDS = Buffer.from('bids');
const W_CHECKSUM = Buffer.from('checksum');
const W_ORDTYPE = Buffer.from('ord_type');
const W_PRICE = Buffer.from('price');
const W_QTY = Buffer.from('qty');
const W_SIDE = Buffer.from('side');
const W_SNAPSHOT = Buffer.from('snapshot"');
const W_SYMBOL = Buffer.from('symbol');
const W_TIMESTAMP = Buffer.from('timestamp');
const W_TRADEID = Buffer.from('trade_id');
const W_UPDATE = Buffer.from('update"');

const C_QUOTE = 34;
const C_BACKSLASH = 92;
const C_COMMA = 44;
const C_DOT = 46;
const C_COLON = 58;
const C_LBRACKET = 91;
const C_RBRACKET = 93;
const C_LBRACE = 123;
const C_RBRACE = 125;

/** True when the frame starts like a Kraken v2 book message (cheap pre-check for the scanner). */
export function looksLikeBook(b: Uint8Array): boolean {
  if (b.length < PREFIX.length + 20) return false;
  for (let i = 0; i < PREFIX.length; i++) if (b[i] !== PREFIX[i]) return false;
  return true;
}

/**
 * Byte scanner for one book frame. `scan` returns true with `out` filled, or false when the
 * frame is not in the canonical shape (the caller then uses the general path).
 */
abstract class ByteScanner {
  protected readonly symbols = new SymbolInterner();
  protected b: Uint8Array = PREFIX;
  protected i = 0;
  protected end = 0;
  // number parts of the last readNumber()
  protected nInt = 0;
  protected nFrac = 0;
  protected nLen = 0;

  protected lit(word: Uint8Array): boolean {
    if (!this.keyIs(this.i, word)) return false;
    this.i += word.length;
    return true;
  }

  /** A quoted string without escapes; returns its start (the cursor ends after it) or -1. */
  protected readString(): number {
    const b = this.b;
    if (b[this.i++] !== C_QUOTE) return -1;
    const s = this.i;
    while (this.i < this.end && b[this.i] !== C_QUOTE) {
      if (b[this.i] === C_BACKSLASH) return -1; // escapes: leave to JSON.parse
      this.i++;
    }
    if (this.i >= this.end) return -1;
    this.i++;
    return s;
  }

  /**
   * Whether the bytes starting at `ks` are `word`. Words are byte arrays, not strings:
   * charCodeAt on varying string arguments cost a quarter of the scan time (profiled).
   */
  protected keyIs(ks: number, word: Uint8Array): boolean {
    const b = this.b;
    for (let k = 0; k < word.length; k++) if (b[ks + k] !== word[k]) return false;
    return true;
  }

  /** An object key; returns its length (the cursor ends after the colon) or -1. */
  protected readKey(): number {
    const b = this.b;
    if (b[this.i++] !== C_QUOTE) return -1;
    const ks = this.i;
    while (this.i < this.end && b[this.i] !== C_QUOTE) this.i++;
    const klen = this.i - ks;
    this.i++;
    return b[this.i++] === C_COLON ? klen : -1;
  }

  /** A plain non-negative decimal, bare or quoted; exponents and signs go to the general path. */
  protected readNumber(): boolean {
    const b = this.b;
    const quoted = b[this.i] === C_QUOTE;
    if (quoted) this.i++;
    let int = 0;
    let d = 0;
    for (; this.i < this.end; this.i++, d++) {
      const c = b[this.i]! - 48;
      if (c < 0 || c > 9) break;
      int = int * 10 + c;
    }
    if (d === 0 || d > MAX_INT_DIGITS) return false;
    let frac = 0;
    let len = 0;
    if (b[this.i] === C_DOT) {
      this.i++;
      for (; this.i < this.end; this.i++, len++) {
        const c = b[this.i]! - 48;
        if (c < 0 || c > 9) break;
        frac = frac * 10 + c;
      }
      if (len === 0 || len > MAX_FRACTION_DIGITS) return false;
    }
    if (quoted) {
      if (b[this.i] !== C_QUOTE) return false;
      this.i++;
    }
    this.nInt = int;
    this.nFrac = frac;
    this.nLen = len;
    return true;
  }

  /** The text of the number readNumber() just read from `at` (quotes excluded). */
  protected lastNumberText(at: number): string {
    const b = this.b;
    const quoted = b[at] === C_QUOTE;
    const start = quoted ? at + 1 : at;
    const end = quoted ? this.i - 1 : this.i;
    return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
  }

  /** The last readNumber() as the nearest double (one rounding when the digits fit 2^53). */
  protected numberValue(): number {
    const scale = POW10[this.nLen]!;
    const units = this.nInt * scale + this.nFrac;
    return units <= Number.MAX_SAFE_INTEGER ? units / scale : this.nInt + this.nFrac / scale;
  }
}

export class BookScanner extends ByteScanner {
  // The last symbol read, to skip the interner when consecutive frames share a symbol.
  private readonly lastSym = new Uint8Array(32);
  private lastSymLen = -1;
  private lastSymText = '';

  scan(b: Uint8Array, out: LevelBatch): boolean {
    out.reset();
    if (!looksLikeBook(b)) return false;
    const end = b.length;
    this.b = b;
    this.end = end;
    let i = PREFIX.length;
    // type
    if (this.keyIs(i, W_SNAPSHOT)) {
      out.isSnapshot = true;
      i += 8;
    } else if (this.keyIs(i, W_UPDATE)) {
      out.isSnapshot = false;
      i += 6;
    } else return false;
    for (let k = 0; k < DATA.length; k++) if (b[i++] !== DATA[k]) return false;
    if (b[i++] !== C_LBRACE) return false;
    // keys of the book element, any order
    for (;;) {
      if (b[i++] !== C_QUOTE) return false;
      const ks = i;
      while (i < end && b[i] !== C_QUOTE) i++;
      const klen = i - ks;
      if (b[i + 1] !== C_COLON) return false;
      i += 2;
      if (klen === 6 && this.keyIs(ks, W_SYMBOL)) {
        if (b[i++] !== C_QUOTE) return false;
        const st = i;
        while (i < end && b[i] !== C_QUOTE) {
          if (b[i] === C_BACKSLASH) return false; // escapes: leave to JSON.parse
          i++;
        }
        if (i >= end) return false;
        out.symbol = this.symbol(b, st, i);
        i++;
      } else if (klen === 4 && (this.keyIs(ks, W_BIDS) || this.keyIs(ks, W_ASKS))) {
        this.i = i;
        if (!this.levels(out, b[ks] === 98 ? Side.BID : Side.ASK)) return false;
        i = this.i;
      } else if (klen === 8 && this.keyIs(ks, W_CHECKSUM)) {
        let v = 0;
        const d0 = i;
        for (; i < end; i++) {
          const c = b[i]! - 48;
          if (c < 0 || c > 9) break;
          v = v * 10 + c;
        }
        if (i === d0 || i - d0 > 10) return false;
        out.checksum = v;
      } else if (klen === 9 && this.keyIs(ks, W_TIMESTAMP)) {
        if (b[i++] !== C_QUOTE) return false;
        const st = i;
        while (i < end && b[i] !== C_QUOTE) i++;
        if (i >= end) return false;
        out.eventTimeUs = parseTimestampUs(b, st, i);
        i++;
      } else return false;
      const c = b[i++];
      if (c === C_COMMA) continue;
      if (c === C_RBRACE) break;
      return false;
    }
    // exactly one book element, then the end of the frame
    return b[i] === C_RBRACKET && b[i + 1] === C_RBRACE && i + 2 === end && out.symbol !== '';
  }

  private symbol(b: Uint8Array, start: number, end: number): string {
    const n = end - start;
    if (n === this.lastSymLen) {
      const last = this.lastSym;
      let k = 0;
      while (k < n && last[k] === b[start + k]) k++;
      if (k === n) return this.lastSymText;
    }
    const text = this.symbols.get(b, start, end);
    if (n <= this.lastSym.length) {
      this.lastSym.set(b.subarray(start, end));
      this.lastSymLen = n;
      this.lastSymText = text;
    }
    return text;
  }

  /**
   * One side's level array. The cursor is a local (not `this.i`) in this loop: measured on
   * the generated depth-10 stream, 0.51 µs per frame for the scan against 0.88 µs with a
   * field cursor.
   */
  private levels(out: LevelBatch, side: number): boolean {
    const b = this.b;
    const end = this.end;
    let i = this.i;
    if (b[i++] !== C_LBRACKET) return false;
    if (b[i] === C_RBRACKET) {
      this.i = i + 1;
      return true;
    }
    for (;;) {
      if (b[i++] !== C_LBRACE) return false;
      let pInt = -1;
      let pFrac = 0;
      let pLen = 0;
      let qInt = -1;
      let qFrac = 0;
      let qLen = 0;
      for (;;) {
        // "price": or "qty":
        if (b[i] !== C_QUOTE) return false;
        let isPrice: boolean;
        if (b[i + 1] === 112 && b[i + 2] === 114 && b[i + 3] === 105 && b[i + 4] === 99 && b[i + 5] === 101 && b[i + 6] === C_QUOTE && b[i + 7] === C_COLON) {
          isPrice = true;
          i += 8;
        } else if (b[i + 1] === 113 && b[i + 2] === 116 && b[i + 3] === 121 && b[i + 4] === C_QUOTE && b[i + 5] === C_COLON) {
          isPrice = false;
          i += 6;
        } else return false;
        // a plain non-negative decimal, bare or quoted
        const quoted = b[i] === C_QUOTE;
        if (quoted) i++;
        let int = 0;
        const intStart = i;
        for (; i < end; i++) {
          const c = b[i]! - 48;
          if (c < 0 || c > 9) break;
          int = int * 10 + c;
        }
        const intDigits = i - intStart;
        if (intDigits === 0 || intDigits > MAX_INT_DIGITS) return false;
        let frac = 0;
        let len = 0;
        if (b[i] === C_DOT) {
          const fracStart = ++i;
          for (; i < end; i++) {
            const c = b[i]! - 48;
            if (c < 0 || c > 9) break;
            frac = frac * 10 + c;
          }
          len = i - fracStart;
          if (len === 0 || len > MAX_FRACTION_DIGITS) return false;
        }
        if (quoted && b[i++] !== C_QUOTE) return false;
        if (isPrice) {
          pInt = int;
          pFrac = frac;
          pLen = len;
        } else {
          qInt = int;
          qFrac = frac;
          qLen = len;
        }
        const c = b[i++];
        if (c === C_COMMA) continue;
        if (c === C_RBRACE) break;
        return false;
      }
      if (pInt < 0 || qInt < 0) return false;
      out.push(side, pInt, pFrac, pLen, qInt, qFrac, qLen);
      const c = b[i++];
      if (c === C_COMMA) continue;
      if (c === C_RBRACKET) {
        this.i = i;
        return true;
      }
      return false;
    }
  }
}

export class TradeBatch {
  count = 0;
  symbol: string[] = [];
  /** Taker side: 1 buy, -1 sell. */
  side = new Int8Array(64);
  price = new Float64Array(64);
  qty = new Float64Array(64);
  timeUs = new Float64Array(64);
  /** Kraken's trade id, -1 when absent. */
  tradeId = new Float64Array(64);
  /** Price and quantity exactly as the venue printed them. */
  priceText: string[] = [];
  qtyText: string[] = [];

  push(symbol: string, side: number, price: number, qty: number, timeUs: number, tradeId = -1, priceText = '', qtyText = ''): void {
    const i = this.count;
    if (i === this.side.length) {
      const cap = i * 2;
      const s8 = new Int8Array(cap);
      s8.set(this.side);
      this.side = s8;
      for (const k of ['price', 'qty', 'timeUs', 'tradeId'] as const) {
        const a = new Float64Array(cap);
        a.set(this[k]);
        this[k] = a;
      }
    }
    this.symbol[i] = symbol;
    this.side[i] = side;
    this.price[i] = price;
    this.qty[i] = qty;
    this.timeUs[i] = timeUs;
    this.tradeId[i] = tradeId;
    this.priceText[i] = priceText;
    this.qtyText[i] = qtyText;
    this.count = i + 1;
  }
}

const TRADE_PREFIX = Buffer.from('{"channel":"trade","type":"');

/**
 * Byte scanner for `trade` frames (about one frame in ten on a busy pair): the trades of one
 * message into a reused TradeBatch. Declines anything but Kraken's exact shape.
 */
export class TradeScanner extends ByteScanner {
  scan(b: Uint8Array, out: TradeBatch): boolean {
    out.count = 0;
    if (b.length < TRADE_PREFIX.length + 20) return false;
    for (let k = 0; k < TRADE_PREFIX.length; k++) if (b[k] !== TRADE_PREFIX[k]) return false;
    this.b = b;
    this.end = b.length;
    this.i = TRADE_PREFIX.length;
    if (!this.lit(L_UPDATE) && !this.lit(L_SNAPSHOT)) return false;
    for (let k = 0; k < DATA.length; k++) if (b[this.i++] !== DATA[k]) return false;
    if (b[this.i] === C_RBRACKET) return b[this.i + 1] === C_RBRACE && this.i + 2 === this.end;
    for (;;) {
      if (b[this.i++] !== C_LBRACE) return false;
      let symbol = '';
      let side = 0;
      let price = -1;
      let qty = -1;
      let timeUs = -1;
      let tradeId = -1;
      let priceText = '';
      let qtyText = '';
      for (;;) {
        const klen = this.readKey();
        const ks = this.i - klen - 2;
        if (klen === 6 && this.keyIs(ks, W_SYMBOL)) {
          const st = this.readString();
          if (st < 0) return false;
          symbol = this.symbols.get(b, st, this.i - 1);
        } else if (klen === 4 && this.keyIs(ks, W_SIDE)) {
          if (this.lit(L_BUY)) side = 1;
          else if (this.lit(L_SELL)) side = -1;
          else return false;
        } else if (klen === 5 && this.keyIs(ks, W_PRICE)) {
          const at = this.i;
          if (!this.readNumber()) return false;
          price = this.numberValue();
          priceText = this.lastNumberText(at);
        } else if (klen === 3 && this.keyIs(ks, W_QTY)) {
          const at = this.i;
          if (!this.readNumber()) return false;
          qty = this.numberValue();
          qtyText = this.lastNumberText(at);
        } else if (klen === 8 && this.keyIs(ks, W_ORDTYPE)) {
          if (this.readString() < 0) return false;
        } else if (klen === 8 && this.keyIs(ks, W_TRADEID)) {
          if (!this.readNumber() || this.nLen !== 0) return false;
          tradeId = this.numberValue();
        } else if (klen === 9 && this.keyIs(ks, W_TIMESTAMP)) {
          const st = this.readString();
          if (st < 0) return false;
          timeUs = parseTimestampUs(b, st, this.i - 1);
        } else return false;
        const c = b[this.i++];
        if (c === C_COMMA) continue;
        if (c === C_RBRACE) break;
        return false;
      }
      if (symbol === '' || side === 0 || !(price > 0) || !(qty > 0)) return false;
      out.push(symbol, side, price, qty, timeUs, tradeId, priceText, qtyText);
      const c = b[this.i++];
      if (c === C_COMMA) continue;
      if (c === C_RBRACKET) break;
      return false;
    }
    return b[this.i] === C_RBRACE && this.i + 1 === this.end;
  }
}

const TICKER_PREFIX = Buffer.from('{"channel":"ticker","type":"');

/**
 * True for what looks like a whole Kraken `ticker` frame. The engine counts tickers but takes
 * no field from them, so they are not decoded (a truncated one still goes to the general path
 * and is counted as malformed).
 */
export function isTickerFrame(b: Uint8Array): boolean {
  if (b.length < TICKER_PREFIX.length + 2 || b[b.length - 1] !== C_RBRACE) return false;
  for (let k = 0; k < TICKER_PREFIX.length; k++) if (b[k] !== TICKER_PREFIX[k]) return false;
  return true;
}

/**
 * Symbol text → interned string without allocating per frame: the bytes are hashed and
 * compared against the strings seen before (a connection carries a bounded set of symbols;
 * the table is capped and simply stops caching past that).
 */
class SymbolInterner {
  private readonly table = new Map<number, { bytes: Uint8Array; text: string }>();

  get(b: Uint8Array, start: number, end: number): string {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    const hit = this.table.get(h);
    if (hit !== undefined && hit.bytes.length === end - start) {
      let same = true;
      for (let i = 0; i < hit.bytes.length; i++) {
        if (hit.bytes[i] !== b[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return hit.text;
    }
    const text = Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
    if (this.table.size < 4096) this.table.set(h, { bytes: Uint8Array.from(b.subarray(start, end)), text });
    return text;
  }
}

function dig(b: Uint8Array, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = b[i + k]! - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** RFC 3339 UTC timestamp (`2026-08-16T23:37:03.745044Z`) → epoch µs, or -1 if not that shape. */
export function parseTimestampUs(b: Uint8Array, s: number, e: number): number {
  if (e - s < 20 || b[s + 4] !== 45 || b[s + 10] !== 84 || b[e - 1] !== 90 /* Z */) return -1;
  const y = dig(b, s, 4);
  const mo = dig(b, s + 5, 2);
  const d = dig(b, s + 8, 2);
  const h = dig(b, s + 11, 2);
  const mi = dig(b, s + 14, 2);
  const se = dig(b, s + 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0) return -1;
  let us = 0;
  if (b[s + 19] === C_DOT) {
    const n = e - 1 - (s + 20);
    if (n < 1 || n > 9) return -1;
    const f = dig(b, s + 20, n);
    if (f < 0) return -1;
    us = n <= 6 ? f * 10 ** (6 - n) : Math.floor(f / 10 ** (n - 6));
  } else if (s + 19 !== e - 1) return -1;
  // Date.UTC once per hour of event time, not per frame.
  const hourKey = ((y * 16 + mo) * 32 + d) * 32 + h;
  if (hourKey !== cachedHourKey) {
    cachedHourKey = hourKey;
    cachedHourMs = Date.UTC(y, mo - 1, d, h, 0, 0);
  }
  return (cachedHourMs + (mi * 60 + se) * 1000) * 1000 + us;
}
let cachedHourKey = -1;
let cachedHourMs = 0;

const tsBuf = Buffer.alloc(64);
/** String form of parseTimestampUs for the general path. */
export function parseTimestampText(s: string): number {
  if (s.length > 64) return -1;
  const n = tsBuf.write(s, 0, 'latin1');
  return parseTimestampUs(tsBuf, 0, n);
}

// ---------------------------------------------------------------- general (lossless) path

const NUMBER_OR_STRING = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * JSON.parse with every number kept as its exact text (a string). Throws SyntaxError on
 * malformed input, exactly like JSON.parse.
 */
export function parseLossless(text: string): unknown {
  return JSON.parse(text.replace(NUMBER_OR_STRING, (m) => (m.charCodeAt(0) === C_QUOTE ? m : `"${m}"`)));
}

const parts = new DecimalParts();

/** Parsed book element (numbers as strings) → LevelBatch. Returns an error text or null. */
export function fillBatchFromObject(el: Record<string, unknown>, isSnapshot: boolean, out: LevelBatch): string | null {
  out.reset();
  out.isSnapshot = isSnapshot;
  if (typeof el.symbol !== 'string') return 'book element without symbol';
  out.symbol = el.symbol;
  if (el.checksum !== undefined) {
    const c = Number(el.checksum);
    if (!Number.isInteger(c) || c < 0 || c > 0xffffffff) return `bad checksum ${String(el.checksum)}`;
    out.checksum = c;
  }
  if (typeof el.timestamp === 'string') out.eventTimeUs = parseTimestampText(el.timestamp);
  for (const [key, side] of [
    ['bids', Side.BID],
    ['asks', Side.ASK],
  ] as const) {
    const levels = el[key];
    if (levels === undefined) continue;
    if (!Array.isArray(levels)) return `${key} is not an array`;
    for (const lv of levels as unknown[]) {
      if (lv === null || typeof lv !== 'object') return `bad level in ${key}`;
      const { price, qty } = lv as { price?: unknown; qty?: unknown };
      if (typeof price !== 'string' || !parseDecimal(price, parts) || parts.negative) return `bad price ${String(price)}`;
      const pInt = parts.int;
      const pFrac = parts.frac;
      const pLen = parts.fracLen;
      if (typeof qty !== 'string' || !parseDecimal(qty, parts) || parts.negative) return `bad qty ${String(qty)}`;
      out.push(side, pInt, pFrac, pLen, parts.int, parts.frac, parts.fracLen);
    }
  }
  return null;
}
