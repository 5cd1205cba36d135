/**
 * Position accounting from fills, for one account in one instrument.
 *
 * Quantities are exact: integer lots of 10^-qtyPrecision (parsed from the fill's decimal text),
 * so a position that is closed is exactly zero. Prices and PnL are doubles (quote currency).
 * Average-cost method: adding to a position moves the average entry; reducing realises
 * (exit − entry) × closed quantity; a fill that crosses zero closes the old position and opens
 * the rest at the fill price. Fees are charged to realized PnL.
 */
import { DecimalParts, parseDecimal, POW10, toScaled } from './decimal.js';

export const FillSide = { BUY: 1, SELL: -1 } as const;

export interface Fill {
  readonly fillId: string;
  readonly account: string;
  readonly symbol: string;
  /** 1 buy, −1 sell. */
  readonly side: number;
  /** Price per base unit, quote currency. */
  readonly price: number;
  /** Quantity in lots of 10^-qtyPrecision (exact). */
  readonly lots: number;
  /** Fee in quote currency (positive = paid). */
  readonly fee: number;
  /** Venue/trading-system time of the fill, epoch µs. */
  readonly timeUs: number;
}

/** Why a fill message was refused (dead-lettered with this reason). */
export type FillRejection =
  | 'MALFORMED'
  | 'MISSING_FIELD'
  | 'BAD_SIDE'
  | 'BAD_PRICE'
  | 'BAD_QTY'
  | 'BAD_FEE'
  | 'QTY_PRECISION'
  | 'UNKNOWN_SYMBOL';

export interface FillError {
  readonly reason: FillRejection;
  readonly field: string | null;
  readonly detail: string;
}

const parts = new DecimalParts();

/**
 * Validate and convert a decoded fill message (fields as strings or numbers; decimals should be
 * strings to stay exact). `qtyPrecision` resolves the symbol (undefined = unknown symbol).
 */
export function parseFill(msg: unknown, qtyPrecision: (symbol: string) => number | undefined): Fill | FillError {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return { reason: 'MALFORMED', field: null, detail: 'fill is not an object' };
  const m = msg as Record<string, unknown>;
  for (const f of ['fill_id', 'account', 'symbol', 'side', 'price', 'qty']) {
    if (m[f] === undefined || m[f] === null || m[f] === '') return { reason: 'MISSING_FIELD', field: f, detail: `${f} is required` };
  }
  const fillId = String(m.fill_id);
  const account = String(m.account);
  const symbol = String(m.symbol);
  if (fillId.length > 128 || account.length > 64 || symbol.length > 32) return { reason: 'MALFORMED', field: null, detail: 'fill_id, account or symbol too long' };
  const side = m.side === 'buy' ? FillSide.BUY : m.side === 'sell' ? FillSide.SELL : 0;
  if (side === 0) return { reason: 'BAD_SIDE', field: 'side', detail: `side must be "buy" or "sell" (got ${JSON.stringify(m.side)})` };
  const qp = qtyPrecision(symbol);
  if (qp === undefined) return { reason: 'UNKNOWN_SYMBOL', field: 'symbol', detail: `unknown symbol ${symbol}` };
  const price = Number(m.price);
  if (!Number.isFinite(price) || price <= 0) return { reason: 'BAD_PRICE', field: 'price', detail: `price must be a positive number (got ${JSON.stringify(m.price)})` };
  const qtyText = typeof m.qty === 'number' ? String(m.qty) : String(m.qty);
  if (!parseDecimal(qtyText, parts) || parts.negative) return { reason: 'BAD_QTY', field: 'qty', detail: `qty must be a positive decimal (got ${JSON.stringify(m.qty)})` };
  const lots = toScaled(parts.int, parts.frac, parts.fracLen, qp);
  if (lots < 0) return { reason: 'QTY_PRECISION', field: 'qty', detail: `qty ${qtyText} has more than ${qp} decimals` };
  if (lots === 0) return { reason: 'BAD_QTY', field: 'qty', detail: 'qty must be positive' };
  const fee = m.fee === undefined || m.fee === null ? 0 : Number(m.fee);
  if (!Number.isFinite(fee)) return { reason: 'BAD_FEE', field: 'fee', detail: `fee must be a number (got ${JSON.stringify(m.fee)})` };
  const t = m.time === undefined ? Number.NaN : typeof m.time === 'number' ? m.time : Date.parse(String(m.time)) * 1000;
  return { fillId, account, symbol, side, price, lots, fee, timeUs: Number.isFinite(t) ? t : -1 };
}

export function isFillError(x: Fill | FillError): x is FillError {
  return (x as FillError).reason !== undefined;
}

export interface PositionSnapshot {
  readonly symbol: string;
  readonly qtyPrecision: number;
  readonly lots: number;
  readonly avgEntry: number;
  readonly realizedPnl: number;
  readonly feesPaid: number;
  readonly fills: number;
  readonly lastFillTimeUs: number;
}

/** Integer lots of 10^-precision → exact decimal text (e.g. -1234, 3 → "-1.234"). */
export function lotsText(lots: number, precision: number): string {
  const neg = lots < 0;
  const digits = String(Math.abs(lots));
  if (precision === 0) return (neg ? '-' : '') + digits;
  const padded = digits.padStart(precision + 1, '0');
  return `${neg ? '-' : ''}${padded.slice(0, padded.length - precision)}.${padded.slice(padded.length - precision)}`;
}

export class Position {
  /** Signed position in lots (positive long). */
  lots = 0;
  /** Average entry price of the open position (0 when flat). */
  avgEntry = 0;
  /** Realized PnL net of fees, quote currency. */
  realizedPnl = 0;
  feesPaid = 0;
  fills = 0;
  lastFillTimeUs = -1;
  private readonly lotsPerUnit: number;

  constructor(
    readonly symbol: string,
    readonly qtyPrecision: number,
  ) {
    this.lotsPerUnit = POW10[qtyPrecision]!;
  }

  /** Position in base units (double). */
  get qty(): number {
    return this.lots / this.lotsPerUnit;
  }

  apply(f: Fill): void {
    const signed = f.side * f.lots;
    const pos = this.lots;
    if (pos === 0 || Math.sign(pos) === Math.sign(signed)) {
      const absPos = Math.abs(pos);
      this.avgEntry = (absPos * this.avgEntry + f.lots * f.price) / (absPos + f.lots);
    } else {
      const closing = Math.min(f.lots, Math.abs(pos));
      this.realizedPnl += ((f.price - this.avgEntry) * Math.sign(pos) * closing) / this.lotsPerUnit;
      if (f.lots > Math.abs(pos)) this.avgEntry = f.price; // flipped: the rest opens at the fill price
      else if (f.lots === Math.abs(pos)) this.avgEntry = 0;
    }
    this.lots = pos + signed;
    this.realizedPnl -= f.fee;
    this.feesPaid += f.fee;
    this.fills++;
    if (f.timeUs > this.lastFillTimeUs) this.lastFillTimeUs = f.timeUs;
  }

  /** Everything needed to rebuild this position exactly (warm restart). */
  toSnapshot(): PositionSnapshot {
    return { symbol: this.symbol, qtyPrecision: this.qtyPrecision, lots: this.lots, avgEntry: this.avgEntry, realizedPnl: this.realizedPnl, feesPaid: this.feesPaid, fills: this.fills, lastFillTimeUs: this.lastFillTimeUs };
  }

  static fromSnapshot(s: PositionSnapshot): Position {
    const p = new Position(s.symbol, s.qtyPrecision);
    p.lots = s.lots;
    p.avgEntry = s.avgEntry;
    p.realizedPnl = s.realizedPnl;
    p.feesPaid = s.feesPaid;
    p.fills = s.fills;
    p.lastFillTimeUs = s.lastFillTimeUs;
    return p;
  }

  /** The position as exact decimal text (lots of 10^-qtyPrecision). */
  qtyText(): string {
    return lotsText(this.lots, this.qtyPrecision);
  }

  /** Unrealized PnL marked at `price` (mid, or the executable side). */
  unrealizedAt(price: number): number {
    return this.lots === 0 ? 0 : ((price - this.avgEntry) * this.lots) / this.lotsPerUnit;
  }
}

const RECENT = 10_000;

/**
 * Fill ids already applied, for idempotent at-least-once consumption. Bounded: the newest
 * `capacity` ids are kept (a redelivery arrives within the consumer's ack wait, far inside
 * the window); `evicted` counts ids that left it.
 */
export class FillLedger {
  private readonly seen = new Set<string>();
  /** The newest RECENT ids in a ring, for checkpoints (copying the whole set would be O(n)). */
  private readonly ring: string[] = [];
  private ringHead = 0;
  evicted = 0;

  constructor(readonly capacity = 1_000_000) {}

  has(fillId: string): boolean {
    return this.seen.has(fillId);
  }

  /** Record an id; returns false when it was already applied. */
  add(fillId: string): boolean {
    if (this.seen.has(fillId)) return false;
    this.seen.add(fillId);
    if (this.ring.length < RECENT) this.ring.push(fillId);
    else {
      this.ring[this.ringHead] = fillId;
      this.ringHead = (this.ringHead + 1) % RECENT;
    }
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value as string;
      this.seen.delete(oldest);
      this.evicted++;
    }
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  /** The newest `n` (at most RECENT) ids, oldest first (carried by a warm-restart checkpoint). */
  recent(n: number): string[] {
    const ordered = this.ring.length < RECENT ? this.ring : [...this.ring.slice(this.ringHead), ...this.ring.slice(0, this.ringHead)];
    return ordered.length <= n ? ordered.slice() : ordered.slice(ordered.length - n);
  }
}

/**
 * A finite number as plain decimal text, never exponent notation (1e-7 → "0.0000001"): the
 * shortest text that reads back as the same number, with the exponent moved into the digits.
 */
export function plainDecimal(x: number): string {
  const s = String(x);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/i.exec(s);
  if (m === null) return s;
  const [, sign, int, frac = '', expText] = m;
  const exp = Number(expText);
  const digits = int! + frac;
  const point = int!.length + exp; // position of the decimal point within `digits`
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
