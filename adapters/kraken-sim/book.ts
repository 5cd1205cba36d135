/**
 * One side of the simulator's hidden full-depth book.
 *
 * Levels are kept best-first (bids descending, asks ascending) in two parallel
 * Float64Arrays of integer ticks and lots. A typed array per side instead of an
 * object per level keeps 700 fully-subscribed pairs × 2 × 1200 levels at ~27 MB
 * instead of several hundred MB of small objects, and an insert or delete is one
 * `copyWithin` (a memmove of ≤ 1200 doubles). Values are integers ≤ 2^52, so a
 * double holds them exactly.
 */
/** Levels whose checksum token is cached: the ten that enter the checksum. */
const TOKEN_CACHE = 10;

export class BookSide {
  /** Price of each level in ticks, best first. */
  readonly px: Float64Array;
  /** Quantity of each level in lots, best first; always > 0. */
  readonly qty: Float64Array;
  /** Number of live levels. */
  len: number;
  readonly isBid: boolean;
  /**
   * Checksum tokens (`String(ticks) + String(lots)`, see checksum.ts) of the top
   * TOKEN_CACHE levels, or null when not yet rendered. Most messages change one
   * or two of the top ten levels, so caching the other tokens halves the cost
   * of the per-message checksum (measured: it was ~25 % of the server's CPU).
   */
  private readonly tok: (string | null)[];

  constructor(isBid: boolean, capacity: number) {
    this.isBid = isBid;
    this.px = new Float64Array(capacity);
    this.qty = new Float64Array(capacity);
    this.len = 0;
    this.tok = new Array<string | null>(TOKEN_CACHE).fill(null);
  }

  /** Checksum token of level `i` (i < TOKEN_CACHE and i < len). */
  token(i: number): string {
    let t = this.tok[i];
    if (t === null || t === undefined) {
      t = String(this.px[i]) + String(this.qty[i]);
      this.tok[i] = t;
    }
    return t;
  }

  /** Price of level `i` (caller guarantees `i < len`). */
  priceAt(i: number): number {
    return this.px[i] as number;
  }

  qtyAt(i: number): number {
    return this.qty[i] as number;
  }

  /** True when price `a` ranks strictly better than price `b` on this side. */
  better(a: number, b: number): boolean {
    return this.isBid ? a > b : a < b;
  }

  /**
   * Insert a level at index `i` (0 ≤ i ≤ len), shifting worse levels down. The
   * caller guarantees the price keeps the side strictly ordered and that there
   * is spare capacity.
   */
  insertAt(i: number, price: number, qty: number): void {
    const n = this.len;
    if (i < n) {
      this.px.copyWithin(i + 1, i, n);
      this.qty.copyWithin(i + 1, i, n);
    }
    this.px[i] = price;
    this.qty[i] = qty;
    this.len = n + 1;
    if (i < TOKEN_CACHE) {
      this.tok.splice(i, 0, null);
      this.tok.length = TOKEN_CACHE;
    }
  }

  /** Remove the level at index `i` (0 ≤ i < len). */
  removeAt(i: number): void {
    const n = this.len;
    if (i < n - 1) {
      this.px.copyWithin(i, i + 1, n);
      this.qty.copyWithin(i, i + 1, n);
    }
    this.len = n - 1;
    if (i < TOKEN_CACHE) {
      this.tok.splice(i, 1);
      this.tok.push(null);
    }
  }

  setQty(i: number, qty: number): void {
    this.qty[i] = qty;
    if (i < TOKEN_CACHE) this.tok[i] = null;
  }
}
