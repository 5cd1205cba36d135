/**
 * Process-wide budget of connection attempts to the venue, shared by every worker thread
 * through a SharedArrayBuffer: at most `limit` attempts in any rolling `windowMs`. Kraken
 * bans an IP for 10 minutes past about 150 attempts per rolling 10 minutes; the default
 * limit is 100.
 *
 * Layout: Int32 lock word, Int32 ring head, then `limit` Float64 attempt times (epoch ms,
 * 0 = unused). The ring holds the last `limit` grants; a new attempt is granted when the
 * oldest of them has left the window.
 */
export const CONNECT_WINDOW_MS = 10 * 60_000;

export class ConnectBudget {
  private readonly ctl: Int32Array;
  private readonly times: Float64Array;

  private constructor(
    readonly buffer: SharedArrayBuffer,
    readonly limit: number,
    readonly windowMs: number,
  ) {
    this.ctl = new Int32Array(buffer, 0, 2);
    this.times = new Float64Array(buffer, 8, limit);
  }

  static create(limit: number, windowMs = CONNECT_WINDOW_MS): ConnectBudget {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('connect budget limit must be a positive integer');
    return new ConnectBudget(new SharedArrayBuffer(8 + 8 * limit), limit, windowMs);
  }

  /** Attach to a budget created in another thread. */
  static attach(buffer: SharedArrayBuffer, limit: number, windowMs = CONNECT_WINDOW_MS): ConnectBudget {
    return new ConnectBudget(buffer, limit, windowMs);
  }

  /** Take one attempt: returns 0 when granted, otherwise the ms to wait before asking again. */
  tryAcquire(nowMs: number = Date.now()): number {
    const ctl = this.ctl;
    while (Atomics.compareExchange(ctl, 0, 0, 1) !== 0) {
      // Held for a few instructions by another thread; spin.
    }
    try {
      const head = ctl[1]!;
      const oldest = this.times[head]!;
      if (oldest !== 0 && oldest > nowMs - this.windowMs) return Math.ceil(oldest + this.windowMs - nowMs);
      this.times[head] = nowMs;
      ctl[1] = (head + 1) % this.limit;
      return 0;
    } finally {
      Atomics.store(ctl, 0, 0);
    }
  }

  /** Attempts granted within the window ending at `nowMs`. */
  used(nowMs: number = Date.now()): number {
    let n = 0;
    for (let i = 0; i < this.limit; i++) {
      const t = this.times[i]!;
      if (t !== 0 && t > nowMs - this.windowMs) n++;
    }
    return n;
  }
}
