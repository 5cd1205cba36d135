/**
 * Parametric (variance–covariance, normal) value at risk and expected shortfall.
 *
 *   VaR_α = z_α · σ_h · |V|                ES_α = φ(z_α) / (1 − α) · σ_h · |V|
 *
 * for a position of value V (quote currency) whose log return over the horizon h has standard
 * deviation σ_h; z_α is the standard normal quantile and φ its density. For a portfolio with
 * exposure vector w and return covariance Σ over the horizon, σ_h·|V| becomes √(wᵀΣw).
 * docs/risk-model.md states the same formulas and parameters.
 */

/** Standard normal quantiles used by the engine (exact to double precision). */
export const Z = { 0.95: 1.6448536269514722, 0.99: 2.3263478740408408 } as const;
export type Confidence = keyof typeof Z;

export function normalDensity(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

/** VaR of a value with return standard deviation `sigma` over the horizon. */
export function parametricVar(value: number, sigma: number, confidence: Confidence): number {
  return Z[confidence] * sigma * Math.abs(value);
}

/** Expected shortfall (conditional VaR) under the same normal model. */
export function parametricEs(value: number, sigma: number, confidence: Confidence): number {
  return (normalDensity(Z[confidence]) / (1 - confidence)) * sigma * Math.abs(value);
}

/**
 * EWMA covariance of the instruments' log returns sampled on one clock:
 * Σₜ = λ·Σₜ₋₁ + (1 − λ)·rₜrₜᵀ. Instruments are columns by index; a missing return (no valid
 * mid at the tick) leaves that row and column unchanged for the tick.
 */
export class EwmaCovariance {
  readonly cov: Float64Array;
  samples = 0;

  constructor(
    readonly n: number,
    readonly lambda: number,
    readonly intervalSec: number,
  ) {
    if (!(lambda > 0 && lambda < 1)) throw new RangeError('lambda must be in (0, 1)');
    this.cov = new Float64Array(n * n);
  }

  /** Fold in one vector of simultaneous returns (NaN = missing). */
  update(returns: Float64Array): void {
    const n = this.n;
    const l = this.lambda;
    const first = this.samples === 0;
    for (let i = 0; i < n; i++) {
      const ri = returns[i]!;
      if (Number.isNaN(ri)) continue;
      for (let j = 0; j < n; j++) {
        const rj = returns[j]!;
        if (Number.isNaN(rj)) continue;
        const k = i * n + j;
        this.cov[k] = first ? ri * rj : l * this.cov[k]! + (1 - l) * ri * rj;
      }
    }
    this.samples++;
  }

  /** σ_h of a portfolio with exposures `w` (quote currency), i.e. √(wᵀΣw · h/Δt). */
  portfolioSigmaValue(w: Float64Array, horizonSec: number): number {
    const n = this.n;
    let q = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i]!;
      if (wi === 0) continue;
      let row = 0;
      for (let j = 0; j < n; j++) row += this.cov[i * n + j]! * w[j]!;
      q += wi * row;
    }
    return Math.sqrt((Math.max(0, q) * horizonSec) / this.intervalSec);
  }

  correlation(i: number, j: number): number {
    const n = this.n;
    const d = Math.sqrt(this.cov[i * n + i]! * this.cov[j * n + j]!);
    return d > 0 ? this.cov[i * n + j]! / d : 0;
  }
}

/** Portfolio VaR from σ_h·value computed by EwmaCovariance.portfolioSigmaValue. */
export function portfolioVar(sigmaValue: number, confidence: Confidence): number {
  return Z[confidence] * sigmaValue;
}

export function portfolioEs(sigmaValue: number, confidence: Confidence): number {
  return (normalDensity(Z[confidence]) / (1 - confidence)) * sigmaValue;
}

/**
 * Historical-simulation VaR/ES: the loss quantile of the portfolio's value change over past
 * return scenarios (each scenario a vector of log returns, applied to the exposures).
 */
export function historicalVar(w: Float64Array, scenarios: readonly Float64Array[], confidence: Confidence): { var: number; es: number; scenarios: number } {
  const losses = scenarios.map((r) => {
    let pnl = 0;
    for (let i = 0; i < w.length; i++) pnl += w[i]! * Math.expm1(r[i]!);
    return -pnl;
  });
  losses.sort((a, b) => b - a); // largest loss first
  const tail = Math.max(1, Math.floor((1 - confidence) * losses.length));
  const v = losses[tail - 1] ?? 0;
  const es = losses.slice(0, tail).reduce((s, x) => s + x, 0) / tail;
  return { var: Math.max(0, v), es: Math.max(0, es), scenarios: losses.length };
}
