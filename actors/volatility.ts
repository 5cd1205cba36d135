/**
 * Realized volatility as an exponentially weighted moving average of squared log returns of
 * mid, sampled on a fixed clock (RiskMetrics): σ²ₜ = λ·σ²ₜ₋₁ + (1 − λ)·rₜ², rₜ = ln(midₜ/midₜ₋₁).
 * The sampling interval and λ are configuration; figures are scaled by √time from the
 * per-sample variance. The caller drives `sample(mid)` from its clock (actors read no clock).
 */
export const SECONDS_PER_YEAR = 365 * 24 * 3600; // crypto trades around the clock

export class EwmaVolatility {
  /** Per-sample variance of log returns. */
  variance = 0;
  /** Returns folded in so far (the estimate is unreliable for the first ~1/(1−λ) samples). */
  samples = 0;
  private lastMid = -1;

  constructor(
    /** Decay per sample, 0 < λ < 1 (RiskMetrics used 0.94 for daily returns). */
    readonly lambda: number,
    /** Seconds between samples. */
    readonly intervalSec: number,
  ) {
    if (!(lambda > 0 && lambda < 1)) throw new RangeError('lambda must be in (0, 1)');
    if (!(intervalSec > 0)) throw new RangeError('intervalSec must be positive');
  }

  /** One clock tick with the current mid (null when there is no valid mid: the tick is skipped). */
  sample(mid: number | null): number | null {
    if (mid === null || !(mid > 0)) {
      this.lastMid = -1; // do not bridge a gap with one return
      return null;
    }
    const prev = this.lastMid;
    this.lastMid = mid;
    if (prev <= 0) return null;
    const r = Math.log(mid / prev);
    this.variance = this.samples === 0 ? r * r : this.lambda * this.variance + (1 - this.lambda) * r * r;
    this.samples++;
    return r;
  }

  /** Volatility (standard deviation of log return) over `horizonSec`. */
  sigma(horizonSec: number): number {
    return Math.sqrt((this.variance * horizonSec) / this.intervalSec);
  }

  /** Annualized volatility. */
  annualized(): number {
    return this.sigma(SECONDS_PER_YEAR);
  }
}
