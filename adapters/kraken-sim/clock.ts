/**
 * RFC3339 timestamps with microseconds, as Kraken prints them
 * (`2026-08-16T23:37:03.745044Z`, kraken-v2.md §6).
 *
 * Called once per book message, so the date part (which changes once a second)
 * is cached and only the six fraction digits are formatted per call.
 */
import { performance } from 'node:perf_hooks';

let cachedSecond = -1;
let cachedPrefix = '';

/** Current wall-clock time as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function isoMicros(): string {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  const sec = Math.floor(us / 1_000_000);
  if (sec !== cachedSecond) {
    cachedSecond = sec;
    cachedPrefix = new Date(sec * 1000).toISOString().slice(0, 19);
  }
  const frac = String(us - sec * 1_000_000);
  return cachedPrefix + '.' + '000000'.slice(frac.length) + frac + 'Z';
}
