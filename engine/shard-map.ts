/**
 * Deterministic placement of instruments by rendezvous (highest-random-weight) hashing.
 * The same function first splits instruments across processes/pods (`shardIndex` of
 * `shardCount`) and then across the worker threads of one process. Adding or removing a
 * bucket moves only the instruments that belonged to it.
 */
function hash32(text: string): number {
  // FNV-1a, then the murmur3 finaliser for avalanche.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The bucket in [0, count) that owns `key`. */
export function rendezvous(key: string, count: number, salt: string): number {
  let best = 0;
  let bestScore = -1;
  for (let i = 0; i < count; i++) {
    const score = hash32(`${salt}:${i}:${key}`);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

/** Instruments owned by this process shard. */
export function shardSymbols(symbols: readonly string[], shardIndex: number, shardCount: number): string[] {
  return symbols.filter((s) => rendezvous(s, shardCount, 'process') === shardIndex);
}

/** Split this process's instruments across `workers` threads; some lists may be empty. */
export function assignWorkers(symbols: readonly string[], workers: number): string[][] {
  const out: string[][] = Array.from({ length: workers }, () => []);
  for (const s of symbols) out[rendezvous(s, workers, 'worker')]!.push(s);
  return out;
}
