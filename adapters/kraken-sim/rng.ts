/**
 * Seeded pseudo-random numbers for the simulator.
 *
 * sfc32 (Chris Doty-Humphrey's "small fast counting" generator) seeded through
 * splitmix32: fast, 128 bits of state, passes PractRand far beyond what a market
 * simulation needs, and — the reason it exists here — fully deterministic for a
 * given seed, so a failing test can be replayed. Floats from this generator only
 * drive the *dynamics* (which level changes, how far the mid drifts); every
 * price and quantity that reaches the wire is an exact integer of ticks / lots.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Second value of the last Box–Muller pair, or NaN when none is cached. */
  private spare: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    this.spare = Number.NaN;
    // Discard the first outputs: sfc32 needs a few rounds to mix its state.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). `n` must be a positive integer ≤ 2^32. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal variate (Box–Muller, caching the second value). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = Number.NaN;
      return v;
    }
    let u = this.next();
    if (u < 1e-12) u = 1e-12;
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
}
