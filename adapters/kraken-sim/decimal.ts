/**
 * Exact decimal text for scaled integers.
 *
 * Every price in the simulator is an integer number of ticks (10^-pricePrecision)
 * and every quantity an integer number of lots (10^-qtyPrecision). They are held in
 * JS numbers, which represent integers exactly up to 2^53; `pairs.ts` rejects any
 * pair whose values could leave that range. Text is produced from the integer's
 * decimal digits by inserting the point — there is no float arithmetic anywhere
 * between the integer and the wire, so `0.10000000` keeps its trailing zeros.
 */

/** Largest magnitude a tick or lot count may reach (2^52, one bit of headroom). */
export const MAX_UNITS = 2 ** 52;

/**
 * Render a non-negative digit string (an integer count of 10^-precision units)
 * as decimal text with exactly `precision` fraction digits.
 */
export function formatDigits(digits: string, precision: number): string {
  if (precision === 0) return digits;
  const len = digits.length;
  if (len <= precision) return '0.' + '0'.repeat(precision - len) + digits;
  return digits.slice(0, len - precision) + '.' + digits.slice(len - precision);
}

/** Render a non-negative integer `units` as decimal text with `precision` decimals. */
export function formatUnits(units: number, precision: number): string {
  return formatDigits(String(units), precision);
}

/** As `formatUnits`, for a possibly negative integer (ticker `change`). */
export function formatSignedUnits(units: number, precision: number): string {
  return units < 0 ? '-' + formatUnits(-units, precision) : formatUnits(units, precision);
}

const DECIMAL_RE = /^(\d+)(?:\.(\d+))?$/;

/**
 * Parse plain decimal text (no sign, no exponent) into an integer count of
 * 10^-precision units. Returns `null` when the text is not a plain decimal, has
 * more fraction digits than `precision` allows (other than trailing zeros), or
 * does not fit in `MAX_UNITS`.
 */
export function parseUnits(text: string, precision: number): number | null {
  const m = DECIMAL_RE.exec(text);
  if (m === null) return null;
  const intPart = m[1] ?? '0';
  let frac = m[2] ?? '';
  while (frac.length > precision && frac.endsWith('0')) frac = frac.slice(0, -1);
  if (frac.length > precision) return null;
  const digits = intPart + frac.padEnd(precision, '0');
  const v = Number(digits);
  if (!Number.isSafeInteger(v) || v > MAX_UNITS) return null;
  return v;
}

/**
 * 10^exp written the way Kraken's `instrument` channel writes increments: it
 * prints Python float reprs, so 0.1 … 0.0001 appear in positional form and
 * anything smaller in exponent form with a two-digit exponent (`1e-05`,
 * `1e-08`; kraken-v2.md §7/§9 saw `1e-08` and `5e-05` live).
 */
export function pyPow10(exp: number): string {
  if (exp >= 0) return '1' + '0'.repeat(exp);
  if (exp >= -4) return '0.' + '0'.repeat(-exp - 1) + '1';
  const e = -exp;
  return '1e-' + (e < 10 ? '0' + e : String(e));
}
