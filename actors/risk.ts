/**
 * Market risk of one instrument: the record every instrument actor produces on each book or
 * trade change. This is a published contract (NATS subject `risk.v1.kraken.<BASE-QUOTE>`,
 * msgpack with shared structures; docs/risk-schema.md). Fields are never removed or
 * reordered within v1; new fields are appended.
 *
 * Prices are the nearest double to the exact decimal (ticks / 10^price_precision), which
 * prints back to the exact wire text for up to 15 significant digits. `null` means "not
 * available" (e.g. an empty side).
 */
export const BookHealth = {
  /** Subscribed, waiting for the first snapshot (or instrument precision). */
  SYNCING: 'SYNCING',
  /** Snapshot applied and every checksum since has matched. */
  LIVE: 'LIVE',
  /** A checksum mismatch (or stale precision) invalidated the book; a fresh snapshot is on its way. */
  RESYNCING: 'RESYNCING',
  /** The connection is dead (no heartbeat within the timeout) or down; reconnecting. */
  STALE: 'STALE',
  /** The venue reports the instrument (or the whole system) not online. */
  HALTED: 'HALTED',
  /** The venue refused the subscription (unknown pair, unsupported depth, …). */
  REJECTED: 'REJECTED',
} as const;
export type BookHealth = (typeof BookHealth)[keyof typeof BookHealth];

export const TradeSide = { NONE: 0, BUY: 1, SELL: -1 } as const;

export interface MarketRisk {
  /** Venue, always 'kraken'. */
  venue: string;
  symbol: string;
  /**
   * Per-symbol sequence of published records, +1 each within one `epoch`; a gap means a lost
   * message.
   */
  seq: number;
  /**
   * Start time (epoch µs) of the actor that produced the record. It changes when the actor
   * restarts (e.g. its worker crashed); `seq` starts again at 1 in the new epoch.
   */
  epoch: number;
  health: BookHealth;
  /** True when the book has not changed for `quietAfterMs` although the connection is alive. */
  quiet: boolean;
  /** True for records computed from the simulated exchange: never real risk. */
  simulated: boolean;
  bid: number | null;
  ask: number | null;
  bidQty: number | null;
  askQty: number | null;
  mid: number | null;
  /** Size-weighted mid: (bid × askQty + ask × bidQty) / (bidQty + askQty). */
  microprice: number | null;
  spread: number | null;
  spreadBps: number | null;
  /** Quote-currency notional resting within ±10 / ±50 bps of mid, per side. */
  bidDepth10bps: number | null;
  askDepth10bps: number | null;
  bidDepth50bps: number | null;
  askDepth50bps: number | null;
  /** Top-of-book imbalance in [-1, 1]: (bidQty − askQty) / (bidQty + askQty). */
  imbalance: number | null;
  lastTradePrice: number | null;
  lastTradeQty: number | null;
  /** 1 buy (taker), −1 sell, 0 none yet. */
  lastTradeSide: number;
  lastTradeTimeUs: number | null;
  /** Venue time (epoch µs) of the event that produced this record (book or trade timestamp). */
  eventTimeUs: number | null;
  /** Engine receive time (epoch µs) of the frame that produced this record. */
  recvTimeUs: number;
  /** Kraken checksum of the book this record was computed from. */
  checksum: number;
  /** Levels per side in the book (the subscribed depth when full). */
  depth: number;
  /** Annualized realized volatility: EWMA of log returns of mid on a fixed clock (null until 2 samples). */
  volAnnual: number | null;
  /** Volume-weighted price of the public trades in the last `flowWindowSec` (null without trades). */
  vwap: number | null;
  /** Signed taker flow over the same window, base units: buys − sells. */
  flow: number;
  /** Base quantity of the configured clip (AETHER_CLIP_NOTIONAL / mid). */
  clipQty: number | null;
  /** Cost of buying / selling the clip at market by walking the book: slippage from mid, bps (null when the book cannot fill it). */
  buyClipBps: number | null;
  sellClipBps: number | null;
}

/** Key order of the shared msgpack structure; must match MarketRisk's field order. */
export const MARKET_RISK_KEYS: readonly (keyof MarketRisk)[] = [
  'venue', 'symbol', 'seq', 'epoch', 'health', 'quiet', 'simulated',
  'bid', 'ask', 'bidQty', 'askQty', 'mid', 'microprice', 'spread', 'spreadBps',
  'bidDepth10bps', 'askDepth10bps', 'bidDepth50bps', 'askDepth50bps', 'imbalance',
  'lastTradePrice', 'lastTradeQty', 'lastTradeSide', 'lastTradeTimeUs',
  'eventTimeUs', 'recvTimeUs', 'checksum', 'depth',
  'volAnnual', 'vwap', 'flow', 'clipQty', 'buyClipBps', 'sellClipBps',
];

/** A record with every field in MARKET_RISK_KEYS order (one hidden class, reused per actor). */
export function emptyMarketRisk(symbol: string, simulated: boolean, epoch: number): MarketRisk {
  return {
    venue: 'kraken',
    symbol,
    seq: 0,
    epoch,
    health: BookHealth.SYNCING,
    quiet: false,
    simulated,
    bid: null,
    ask: null,
    bidQty: null,
    askQty: null,
    mid: null,
    microprice: null,
    spread: null,
    spreadBps: null,
    bidDepth10bps: null,
    askDepth10bps: null,
    bidDepth50bps: null,
    askDepth50bps: null,
    imbalance: null,
    lastTradePrice: null,
    lastTradeQty: null,
    lastTradeSide: TradeSide.NONE,
    lastTradeTimeUs: null,
    eventTimeUs: null,
    recvTimeUs: 0,
    checksum: 0,
    depth: 0,
    volAnnual: null,
    vwap: null,
    flow: 0,
    clipQty: null,
    buyClipBps: null,
    sellClipBps: null,
  };
}
