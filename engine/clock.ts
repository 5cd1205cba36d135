/**
 * Time port. Actors never read the clock; adapters and the runtime pass times in, so replay
 * and tests are deterministic. Wall time in epoch microseconds from a monotonic source, so it
 * never steps backwards.
 *
 * `performance.timeOrigin` is anchored separately in each thread and process and was measured
 * 20–600 µs apart (and ~1 ms off the wall clock), which makes receive times incomparable across
 * threads. So each thread anchors `performance.now()` itself at a `Date.now()` millisecond
 * edge (the largest offset over a few edges, i.e. the one read closest to the edge): threads
 * and processes then agree to well under a microsecond's worth of anchoring error.
 */
function anchorOffsetUs(): number {
  let best = -Infinity;
  for (let k = 0; k < 4; k++) {
    const d0 = Date.now();
    let d1 = d0;
    let p = 0;
    while (d1 === d0) {
      p = performance.now();
      d1 = Date.now();
    }
    const off = d1 * 1000 - p * 1000;
    if (off > best) best = off;
  }
  return best;
}
const OFFSET_US = anchorOffsetUs();
export interface Clock {
  nowUs(): number;
}

export const systemClock: Clock = {
  nowUs: () => Math.round(performance.now() * 1000 + OFFSET_US),
};

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
