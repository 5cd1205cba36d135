/**
 * The limits file (AETHER_LIMITS_FILE): defaults plus per-account overrides, validated into
 * frozen AccountLimits. Every problem is reported at once, naming the JSON path.
 *
 * {
 *   "defaults": { "maxGrossExposure": 1000000, "maxDailyLoss": 50000, ...,
 *                 "defaultInstrument": { "maxOrderQty": 10, "priceBandBps": 100 },
 *                 "instruments": { "BTC/USD": { "maxPosition": 5 } } },
 *   "accounts": { "desk-1": { "maxPortfolioVar": 20000 } }
 * }
 */
import { readFileSync } from 'node:fs';
import { NO_INSTRUMENT_LIMITS, type AccountLimits, type InstrumentLimits } from '../actors/account.js';
import { AetherError } from './errors.js';

const ACCOUNT_NUMBERS = ['maxGrossExposure', 'maxNetExposure', 'maxOrdersPerMinute', 'maxNotionalPerMinute', 'maxDailyLoss', 'maxDrawdown', 'maxPortfolioVar'] as const;
const INSTRUMENT_NUMBERS = ['maxPosition', 'maxNotional', 'maxOrderQty', 'maxOrderNotional', 'priceBandBps'] as const;
const ACCOUNT_KEYS = new Set<string>([...ACCOUNT_NUMBERS, 'varConfidence', 'varHorizonSec', 'reservationTtlSec', 'instruments', 'defaultInstrument']);

export const BASE_LIMITS: AccountLimits = Object.freeze({
  maxGrossExposure: null,
  maxNetExposure: null,
  maxOrdersPerMinute: null,
  maxNotionalPerMinute: null,
  maxDailyLoss: null,
  maxDrawdown: null,
  maxPortfolioVar: null,
  varConfidence: 0.99,
  varHorizonSec: 86_400,
  reservationTtlSec: 30,
  instruments: Object.freeze({}),
  defaultInstrument: NO_INSTRUMENT_LIMITS,
});

/**
 * A stress scenario: price shocks as fractions (−0.10 = −10 %). `shocks` maps symbols (or "*"
 * for every instrument) to a shock; `driver` + `shock` moves one instrument and every other by
 * its beta to it (from the EWMA covariance).
 */
export type StressScenario =
  | { readonly name: string; readonly shocks: Readonly<Record<string, number>> }
  | { readonly name: string; readonly driver: string; readonly shock: number };

export interface LimitsBook {
  readonly stress: readonly StressScenario[];
  readonly defaults: AccountLimits;
  readonly accounts: Readonly<Record<string, AccountLimits>>;
  limitsFor(account: string): AccountLimits;
}

function instrumentLimits(raw: unknown, path: string, base: InstrumentLimits, errors: string[]): InstrumentLimits {
  if (raw === undefined) return base;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push(`${path}: must be an object`);
    return base;
  }
  const out: Record<string, number | null> = { ...base };
  for (const [k, v] of Object.entries(raw)) {
    if (!(INSTRUMENT_NUMBERS as readonly string[]).includes(k)) errors.push(`${path}.${k}: unknown key (allowed: ${INSTRUMENT_NUMBERS.join(', ')})`);
    else if (v !== null && (typeof v !== 'number' || !(v >= 0))) errors.push(`${path}.${k}: must be a number ≥ 0 or null`);
    else out[k] = v;
  }
  return Object.freeze(out) as unknown as InstrumentLimits;
}

function accountLimits(raw: unknown, path: string, base: AccountLimits, errors: string[]): AccountLimits {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push(`${path}: must be an object`);
    return base;
  }
  const r = raw as Record<string, unknown>;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(r)) {
    if (!ACCOUNT_KEYS.has(k)) {
      errors.push(`${path}.${k}: unknown key`);
      continue;
    }
    if ((ACCOUNT_NUMBERS as readonly string[]).includes(k)) {
      if (v !== null && (typeof v !== 'number' || !(v >= 0))) errors.push(`${path}.${k}: must be a number ≥ 0 or null`);
      else out[k] = v;
    }
  }
  if (r.varConfidence !== undefined) {
    if (r.varConfidence !== 0.95 && r.varConfidence !== 0.99) errors.push(`${path}.varConfidence: must be 0.95 or 0.99`);
    else out.varConfidence = r.varConfidence;
  }
  for (const k of ['varHorizonSec', 'reservationTtlSec'] as const) {
    if (r[k] === undefined) continue;
    if (typeof r[k] !== 'number' || !((r[k] as number) > 0)) errors.push(`${path}.${k}: must be a number > 0`);
    else out[k] = r[k];
  }
  out.defaultInstrument = instrumentLimits(r.defaultInstrument, `${path}.defaultInstrument`, base.defaultInstrument, errors);
  const instruments: Record<string, InstrumentLimits> = { ...base.instruments };
  if (r.instruments !== undefined) {
    if (r.instruments === null || typeof r.instruments !== 'object' || Array.isArray(r.instruments)) errors.push(`${path}.instruments: must be an object keyed by symbol`);
    else for (const [sym, v] of Object.entries(r.instruments)) instruments[sym] = instrumentLimits(v, `${path}.instruments["${sym}"]`, instruments[sym] ?? (out.defaultInstrument as InstrumentLimits), errors);
  }
  out.instruments = Object.freeze(instruments);
  return Object.freeze(out) as unknown as AccountLimits;
}

/** Validate a parsed limits document. Throws AetherError E_CONFIG listing every problem. */
export function parseLimits(doc: unknown, source = 'limits'): LimitsBook {
  const errors: string[] = [];
  let defaults = BASE_LIMITS;
  const accounts: Record<string, AccountLimits> = {};
  const stress: StressScenario[] = [];
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) errors.push(`${source}: must be a JSON object with "defaults" and/or "accounts"`);
  else {
    const d = doc as Record<string, unknown>;
    for (const k of Object.keys(d)) if (k !== 'defaults' && k !== 'accounts' && k !== 'stress') errors.push(`${source}.${k}: unknown key (allowed: defaults, accounts, stress)`);
    if (d.stress !== undefined) {
      if (!Array.isArray(d.stress)) errors.push(`${source}.stress: must be an array of scenarios`);
      else
        d.stress.forEach((x: unknown, i: number) => {
          const path = `${source}.stress[${i}]`;
          const sc = x as Record<string, unknown>;
          if (x === null || typeof x !== 'object' || typeof sc.name !== 'string') return void errors.push(`${path}: must be an object with a name`);
          const frac = (v: unknown) => typeof v === 'number' && v > -1 && v < 10;
          if (sc.shocks !== undefined) {
            if (sc.shocks === null || typeof sc.shocks !== 'object' || !Object.values(sc.shocks).every(frac)) return void errors.push(`${path}.shocks: must map symbols (or "*") to fractions, e.g. {"*": -0.1}`);
            stress.push({ name: sc.name, shocks: Object.freeze({ ...(sc.shocks as Record<string, number>) }) });
          } else if (typeof sc.driver === 'string' && frac(sc.shock)) {
            stress.push({ name: sc.name, driver: sc.driver, shock: sc.shock as number });
          } else errors.push(`${path}: needs "shocks", or "driver" and "shock"`);
        });
    }
    if (d.defaults !== undefined) defaults = accountLimits(d.defaults, `${source}.defaults`, BASE_LIMITS, errors);
    if (d.accounts !== undefined) {
      if (d.accounts === null || typeof d.accounts !== 'object' || Array.isArray(d.accounts)) errors.push(`${source}.accounts: must be an object keyed by account`);
      else for (const [acct, v] of Object.entries(d.accounts)) accounts[acct] = accountLimits(v, `${source}.accounts["${acct}"]`, defaults, errors);
    }
  }
  if (errors.length > 0) throw new AetherError('E_CONFIG', `invalid limits (${errors.length} problem${errors.length > 1 ? 's' : ''}):\n  - ${errors.join('\n  - ')}`);
  const frozen = Object.freeze(accounts);
  return { stress: Object.freeze(stress), defaults, accounts: frozen, limitsFor: (a) => frozen[a] ?? defaults };
}

export function loadLimitsFile(path: string | null): LimitsBook {
  if (path === null) return parseLimits({});
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AetherError('E_CONFIG', `cannot read the limits file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AetherError('E_CONFIG', `the limits file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseLimits(doc, path);
}
