/**
 * Cost to trade a quantity by walking the live book: the average execution price of a
 * market order of `qty` base units against the resting levels, its slippage from mid in bps
 * and in quote currency, and whether the visible book could fill it at all.
 */
/** Read access to a book's levels, best first (OrderBook, or a copy read from shared memory). */
export interface BookLevels {
  readonly bidCount: number;
  readonly askCount: number;
  bidPrice(i: number): number;
  askPrice(i: number): number;
  bidQty(i: number): number;
  askQty(i: number): number;
}

export interface TradeCost {
  /** Base units that the visible book can fill (≤ requested). */
  filled: number;
  /** Volume-weighted execution price of the filled part (NaN when nothing fills). */
  avgPrice: number;
  /** Slippage against mid, bps (positive = worse than mid). */
  slippageBps: number;
  /** Slippage against mid, quote currency, for the filled part. */
  slippageQuote: number;
  /** True when the book held less than the requested quantity. */
  insufficient: boolean;
}

export function emptyTradeCost(): TradeCost {
  return { filled: 0, avgPrice: Number.NaN, slippageBps: Number.NaN, slippageQuote: 0, insufficient: false };
}

/**
 * Cost of buying (side 1) or selling (side −1) `qty` base units at market. Pass `out` to reuse
 * one result object (the instrument actor does, on every book change: no allocation).
 */
export function costToTrade(book: BookLevels, side: number, qty: number, out: TradeCost = emptyTradeCost()): TradeCost {
  const nb = book.bidCount;
  const na = book.askCount;
  if (nb === 0 || na === 0 || !(qty > 0)) {
    out.filled = 0;
    out.avgPrice = out.slippageBps = Number.NaN;
    out.slippageQuote = 0;
    out.insufficient = qty > 0;
    return out;
  }
  const mid = (book.bidPrice(0) + book.askPrice(0)) / 2;
  let left = qty;
  let notional = 0;
  const n = side > 0 ? na : nb;
  for (let i = 0; i < n && left > 0; i++) {
    const p = side > 0 ? book.askPrice(i) : book.bidPrice(i);
    const q = side > 0 ? book.askQty(i) : book.bidQty(i);
    const take = q < left ? q : left;
    notional += take * p;
    left -= take;
  }
  const filled = qty - left;
  const avgPrice = filled > 0 ? notional / filled : Number.NaN;
  const slip = filled > 0 ? side * (avgPrice - mid) : Number.NaN;
  out.filled = filled;
  out.avgPrice = avgPrice;
  out.slippageBps = filled > 0 ? (slip / mid) * 1e4 : Number.NaN;
  out.slippageQuote = filled > 0 ? slip * filled : 0;
  out.insufficient = left > 1e-12 * qty;
  return out;
}
