/**
 * Options validation and the default pair list.
 *
 * Configuration errors throw once, at start-up, with a stable code and every
 * violation listed (unknown keys included, so a typo such as `bookRate` is an
 * error rather than silently ignored).
 */
import { MAX_UNITS, formatUnits, parseUnits } from './decimal.js';
import type { PairStatus, SimOptions, SimPair } from './types.js';

export class SimConfigError extends Error {
  readonly code = 'KRAKEN_SIM_CONFIG';
  readonly violations: readonly string[];
  constructor(violations: readonly string[]) {
    super('kraken-sim: invalid options: ' + violations.join('; '));
    this.name = 'SimConfigError';
    this.violations = violations;
  }
}

/** A validated pair with the derived numbers the market model needs. */
export interface PairSpec {
  readonly index: number;
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  /** Price / qty decimals. */
  readonly pp: number;
  readonly qp: number;
  /** Start mid in ticks. */
  readonly startTicks: number;
  /** Typical resting quantity per level in lots (≈ $10k notional). */
  readonly typicalLots: number;
  /** Mean distance between adjacent levels in ticks (≥ 1.5 so inserts find room). */
  readonly gapMean: number;
  /** log10 of the instrument's qty_min. */
  readonly qtyMinExp: number;
  status: PairStatus;
}

export interface SimConfig {
  readonly host: string;
  readonly port: number;
  readonly pairs: readonly PairSpec[];
  readonly bookRatePerSymbol: number;
  readonly tradeRatio: number;
  readonly tickerRatio: number;
  readonly heartbeatMs: number;
  readonly seed: number;
  readonly hiddenDepth: number;
  readonly slowClientBytes: number;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'host', 'port', 'pairs', 'bookRatePerSymbol', 'tradeRatio', 'tickerRatio', 'heartbeatMs', 'seed', 'hiddenDepth',
  'slowClientBytes',
]);
const PAIR_KEYS: ReadonlySet<string> = new Set([
  'symbol', 'base', 'quote', 'pricePrecision', 'qtyPrecision', 'startPrice', 'status',
]);
const STATUSES: ReadonlySet<string> = new Set([
  'online', 'maintenance', 'cancel_only', 'post_only', 'limit_only', 'reduce_only', 'delisted', 'work_in_progress',
]);

export function isPairStatus(s: unknown): s is PairStatus {
  return typeof s === 'string' && STATUSES.has(s);
}

/** Notional the typical resting level is sized to, in quote currency. */
const TYPICAL_LEVEL_NOTIONAL = 10_000;

function resolvePair(p: SimPair, index: number, errors: string[]): PairSpec | null {
  const at = `options.pairs[${index}]`;
  if (p === null || typeof p !== 'object') {
    errors.push(`${at} must be an object`);
    return null;
  }
  const before = errors.length;
  for (const k of Object.keys(p)) if (!PAIR_KEYS.has(k)) errors.push(`${at}.${k} is not a known option`);
  // [A-Z0-9] only: data frames are written as latin1 and must be pure ASCII (server.ts Conn).
  if (typeof p.base !== 'string' || !/^[A-Z0-9]{1,16}$/.test(p.base)) errors.push(`${at}.base must be 1-16 of A-Z0-9`);
  if (typeof p.quote !== 'string' || !/^[A-Z0-9]{1,16}$/.test(p.quote)) errors.push(`${at}.quote must be 1-16 of A-Z0-9`);
  if (p.symbol !== `${p.base}/${p.quote}`) errors.push(`${at}.symbol must be "base/quote"`);
  const pp = p.pricePrecision;
  const qp = p.qtyPrecision;
  if (!Number.isInteger(pp) || pp < 0 || pp > 12) errors.push(`${at}.pricePrecision must be an integer 0..12`);
  if (!Number.isInteger(qp) || qp < 0 || qp > 12) errors.push(`${at}.qtyPrecision must be an integer 0..12`);
  if (p.status !== undefined && !isPairStatus(p.status)) errors.push(`${at}.status is not a Kraken pair status`);
  if (errors.length > before) return null;
  const startTicks = typeof p.startPrice === 'string' ? parseUnits(p.startPrice, pp) : null;
  // Headroom: the random walk may take the mid to 20x its start, plus the ask ladder.
  if (startTicks === null || startTicks < 1 || startTicks > MAX_UNITS / 1000) {
    errors.push(`${at}.startPrice must be positive decimal text with at most ${pp} decimals`);
    return null;
  }
  const price = startTicks / 10 ** pp;
  const lots = Math.round((TYPICAL_LEVEL_NOTIONAL / price) * 10 ** qp);
  const qtyMinExp = Math.min(8, Math.max(-qp, Math.round(Math.log10(5 / price))));
  return {
    index,
    symbol: p.symbol,
    base: p.base,
    quote: p.quote,
    pp,
    qp,
    startTicks,
    // Capped so that a lognormal draw of ~100x typical still stays below MAX_UNITS.
    typicalLots: Math.min(1e13, Math.max(1, lots)),
    gapMean: Math.max(1.5, startTicks * 1e-5),
    qtyMinExp,
    status: p.status ?? 'online',
  };
}

function checkNumber(
  errors: string[], name: string, v: unknown, min: number, max: number, integer: boolean,
): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    errors.push(`options.${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  }
}

/** Validate options and apply defaults; throws `SimConfigError` listing every violation. */
export function resolveConfig(opts: SimOptions): SimConfig {
  const errors: string[] = [];
  if (opts === null || typeof opts !== 'object') throw new SimConfigError(['options must be an object']);
  for (const k of Object.keys(opts)) if (!OPTION_KEYS.has(k)) errors.push(`options.${k} is not a known option`);
  if (opts.host !== undefined && (typeof opts.host !== 'string' || opts.host === '')) errors.push('options.host must be a non-empty string');
  checkNumber(errors, 'port', opts.port, 0, 65535, true);
  checkNumber(errors, 'bookRatePerSymbol', opts.bookRatePerSymbol, 0, 100_000, false);
  checkNumber(errors, 'tradeRatio', opts.tradeRatio, 0, 100, false);
  checkNumber(errors, 'tickerRatio', opts.tickerRatio, 0, 100, false);
  checkNumber(errors, 'heartbeatMs', opts.heartbeatMs, 10, 3_600_000, true);
  checkNumber(errors, 'seed', opts.seed, 0, 2 ** 32 - 1, true);
  checkNumber(errors, 'hiddenDepth', opts.hiddenDepth, 1001, 100_000, true);
  checkNumber(errors, 'slowClientBytes', opts.slowClientBytes, 64 * 1024, 2 ** 31, true);

  const rawPairs = opts.pairs ?? defaultSimPairs(8);
  const pairs: PairSpec[] = [];
  if (!Array.isArray(rawPairs) || rawPairs.length === 0) {
    errors.push('options.pairs must be a non-empty array');
  } else {
    const seen = new Set<string>();
    rawPairs.forEach((p, i) => {
      const spec = resolvePair(p, i, errors);
      if (spec === null) return;
      if (seen.has(spec.symbol)) errors.push(`options.pairs[${i}].symbol ${spec.symbol} is duplicated`);
      seen.add(spec.symbol);
      pairs.push(spec);
    });
  }
  if (errors.length > 0) throw new SimConfigError(errors);
  return Object.freeze({
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    pairs: Object.freeze(pairs),
    bookRatePerSymbol: opts.bookRatePerSymbol ?? 20,
    tradeRatio: opts.tradeRatio ?? 0.1,
    tickerRatio: opts.tickerRatio ?? 0.05,
    heartbeatMs: opts.heartbeatMs ?? 1000,
    seed: opts.seed ?? 0x5eed,
    hiddenDepth: opts.hiddenDepth ?? 1200,
    slowClientBytes: opts.slowClientBytes ?? 8 * 1024 * 1024,
  });
}

/**
 * Real Kraken pairs with the precisions from the instrument channel (kraken-v2.md
 * §9: BTC 1/8, ETH 2/8, SOL 2/8, XRP 5/8, DOGE 7/8, SHIB 8/5, PEPE 9/5) and
 * plausible prices. SHIB and PEPE have only a few thousand ticks of price, so
 * their books sit on every tick, as the real ones do.
 */
const REAL_PAIRS: readonly (readonly [string, number, number, string])[] = [
  ['BTC', 1, 8, '65000.0'],
  ['ETH', 2, 8, '3500.00'],
  ['SOL', 2, 8, '150.00'],
  ['XRP', 5, 8, '0.60000'],
  ['DOGE', 7, 8, '0.1500000'],
  ['SHIB', 8, 5, '0.00002500'],
  ['ADA', 6, 8, '0.450000'],
  ['LTC', 2, 8, '85.00'],
  ['DOT', 4, 8, '7.0000'],
  ['LINK', 5, 8, '15.00000'],
  ['AVAX', 2, 8, '35.00'],
  ['PEPE', 9, 5, '0.000010000'],
];

/** Qty precisions for synthetic pairs: mostly 8, as on Kraken, with some variety. */
const SYNTH_QTY_PRECISIONS = [8, 8, 5, 8, 6, 8, 4, 8, 2, 8] as const;

/**
 * `n` pairs: the real ones above first, then synthetic `SYM<k>/USD` with price
 * precisions 0..9 and qty precisions 2..8. Synthetic mids are 50,000..1,000,000
 * ticks so the 1200-level hidden book always fits above a price of one tick.
 */
export function defaultSimPairs(n: number): SimPair[] {
  if (!Number.isInteger(n) || n < 0 || n > 100_000) {
    throw new SimConfigError(['defaultSimPairs(n): n must be an integer in [0, 100000]']);
  }
  const out: SimPair[] = [];
  for (let i = 0; i < n && i < REAL_PAIRS.length; i++) {
    const [base, pp, qp, px] = REAL_PAIRS[i] as (typeof REAL_PAIRS)[number];
    out.push({ symbol: `${base}/USD`, base, quote: 'USD', pricePrecision: pp, qtyPrecision: qp, startPrice: px });
  }
  for (let k = 1; out.length < n; k++) {
    const pp = (k * 7 + 3) % 10;
    const mantissa = 50_000 + ((k * 7919) % 950_000);
    const startPrice = formatUnits(mantissa, pp);
    let qp: number = SYNTH_QTY_PRECISIONS[k % SYNTH_QTY_PRECISIONS.length] ?? 8;
    // Like Kraken's meme coins: sub-cent prices trade in whole-ish units.
    if (mantissa / 10 ** pp < 0.01) qp = Math.min(qp, 5);
    const base = `SYM${k}`;
    out.push({ symbol: `${base}/USD`, base, quote: 'USD', pricePrecision: pp, qtyPrecision: qp, startPrice });
  }
  return out;
}
