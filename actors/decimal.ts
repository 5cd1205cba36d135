/**
 * Exact decimals. Prices and quantities arrive as decimal text; they are kept as scaled
 * integers and never pass through a binary floating-point value on the way to the book
 * or the checksum (a double holds ~15.9 significant digits; Kraken quantities reach 16).
 *
 * A parsed decimal is three integers: the integer part, the fraction digits as an integer,
 * and the number of fraction digits (`12.0340` → 12, 340, 4). Each part is exact as long as
 * it is below 2^53, which `parseDecimal` enforces.
 */
export const MAX_FRACTION_DIGITS = 15;

/** Powers of ten as exact doubles, 10^0 … 10^22. */
export const POW10: Float64Array = (() => {
  const p = new Float64Array(23);
  let v = 1;
  for (let i = 0; i < 23; i++) {
    p[i] = v;
    v *= 10;
  }
  return p;
})();

/** Reusable result of a decimal parse: one instance per parser, overwritten on every call. */
export class DecimalParts {
  int = 0;
  frac = 0;
  fracLen = 0;
  negative = false;
}

/**
 * Parse a plain or exponent-form decimal string into `out`. Returns false on anything that
 * is not a finite decimal or would lose digits. Exponents are expanded exactly.
 */
export function parseDecimal(s: string, out: DecimalParts): boolean {
  let i = 0;
  const n = s.length;
  out.negative = false;
  if (n === 0) return false;
  if (s.charCodeAt(0) === 45 /* - */) {
    out.negative = true;
    i = 1;
  }
  let digits = '';
  let pointAt = -1;
  let sawDigit = false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits += s[i];
      sawDigit = true;
    } else if (c === 46 /* . */ && pointAt < 0) {
      pointAt = digits.length;
    } else break;
  }
  if (!sawDigit) return false;
  if (pointAt < 0) pointAt = digits.length;
  let exp = 0;
  if (i < n) {
    const c = s.charCodeAt(i);
    if (c !== 101 && c !== 69) return false; // e / E
    const e = s.slice(i + 1);
    if (!/^[+-]?\d{1,3}$/.test(e)) return false;
    exp = Number(e);
  }
  pointAt += exp;
  // Normalise: digits with the decimal point at `pointAt` (may be outside the digit string).
  let intText: string;
  let fracText: string;
  if (pointAt <= 0) {
    intText = '0';
    fracText = '0'.repeat(-pointAt) + digits;
  } else if (pointAt >= digits.length) {
    intText = digits + '0'.repeat(pointAt - digits.length);
    fracText = '';
  } else {
    intText = digits.slice(0, pointAt);
    fracText = digits.slice(pointAt);
  }
  // An exponent form has no meaningful trailing zeros; drop those beyond the limit.
  if (exp !== 0) fracText = fracText.replace(/0+$/, '');
  if (fracText.length > MAX_FRACTION_DIGITS) return false;
  const intValue = Number(intText);
  if (!(intValue <= Number.MAX_SAFE_INTEGER)) return false;
  out.int = intValue;
  out.frac = fracText.length === 0 ? 0 : Number(fracText);
  out.fracLen = fracText.length;
  return true;
}

/**
 * Scale parsed parts to an integer count of 10^-precision units. Returns -1 when the value
 * has non-zero digits beyond `precision` (the instrument precision is stale) or would not be
 * exact (≥ 2^53 units).
 */
export function toScaled(int: number, frac: number, fracLen: number, precision: number): number {
  let f: number;
  if (fracLen <= precision) f = frac * POW10[precision - fracLen]!;
  else {
    const d = POW10[fracLen - precision]!;
    if (frac % d !== 0) return -1;
    f = frac / d;
  }
  const v = int * POW10[precision]! + f;
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

/** Fraction digits scaled to `precision` digits; -1 when digits would be lost. */
export function fracToPrecision(frac: number, fracLen: number, precision: number): number {
  if (fracLen <= precision) return frac * POW10[precision - fracLen]!;
  const d = POW10[fracLen - precision]!;
  return frac % d === 0 ? frac / d : -1;
}

/** Render `units × 10^-precision` as canonical decimal text with exactly `precision` fraction digits. */
export function formatScaled(units: number, precision: number): string {
  const neg = units < 0;
  const s = String(Math.abs(units)).padStart(precision + 1, '0');
  const text = precision === 0 ? s : `${s.slice(0, s.length - precision)}.${s.slice(s.length - precision)}`;
  return neg ? `-${text}` : text;
}

/** Render a split quantity (`hi` whole units plus `lo` × 10^-precision). */
export function formatSplit(hi: number, lo: number, precision: number): string {
  if (precision === 0) return String(hi);
  return `${hi}.${String(lo).padStart(precision, '0')}`;
}
