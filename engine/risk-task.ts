/**
 * Off-hot-path risk work, run in the piscina pool: historical-simulation VaR/ES over the
 * sampled return history, and stress scenarios. Pure computation on plain data.
 */
import { historicalVar } from '../actors/var.js';

export interface HistoricalTask {
  /** Exposure per instrument, quote currency (index-aligned with the scenario columns). */
  readonly exposures: number[];
  /** Return history, one row per sample (log returns; NaN = missing → treated as 0). */
  readonly scenarios: number[][];
  /** Horizon scaling: each row is one sampling interval; rows are aggregated to this many. */
  readonly rowsPerHorizon: number;
  readonly stress: { readonly name: string; readonly shocks: number[] }[];
}

export interface HistoricalResult {
  readonly scenarios: number;
  readonly var95: number;
  readonly es95: number;
  readonly var99: number;
  readonly es99: number;
  /** P&L of each stress scenario (negative = loss), quote currency. */
  readonly stress: { readonly name: string; readonly pnl: number }[];
}

export default function run(task: HistoricalTask): HistoricalResult {
  const n = task.exposures.length;
  const w = Float64Array.from(task.exposures);
  // Overlapping windows of `rowsPerHorizon` consecutive rows give horizon returns.
  const k = Math.max(1, Math.min(task.rowsPerHorizon, task.scenarios.length));
  const rows: Float64Array[] = [];
  for (let start = 0; start + k <= task.scenarios.length; start++) {
    const r = new Float64Array(n);
    for (let j = start; j < start + k; j++) {
      const row = task.scenarios[j]!;
      for (let i = 0; i < n; i++) {
        const x = row[i]!;
        if (!Number.isNaN(x)) r[i] = r[i]! + x;
      }
    }
    rows.push(r);
  }
  const h95 = historicalVar(w, rows, 0.95);
  const h99 = historicalVar(w, rows, 0.99);
  const stress = task.stress.map((s) => {
    let pnl = 0;
    for (let i = 0; i < n; i++) pnl += task.exposures[i]! * (s.shocks[i] ?? 0);
    return { name: s.name, pnl };
  });
  return { scenarios: rows.length, var95: h95.var, es95: h95.es, var99: h99.var, es99: h99.es, stress };
}
