/**
 * Time port. Actors never read the clock; adapters and the runtime pass times in, so replay
 * and tests are deterministic. Wall time in epoch microseconds from a monotonic source
 * (performance.now() anchored at timeOrigin), so it never steps backwards.
 */
export interface Clock {
  nowUs(): number;
}

export const systemClock: Clock = {
  nowUs: () => Math.round((performance.timeOrigin + performance.now()) * 1000),
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
