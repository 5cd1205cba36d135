/**
 * Interleaved micro-benchmark harness (interleaved rounds, per-round ratios).
 *
 * - Each variant exposes `run(n)`: do n operations, return a number. Results are XOR-ed into
 *   an exported sink so the optimiser cannot drop the work.
 * - Pre-warm: each variant first runs untimed for `prewarmMs` (JIT tiering;
 *   the first block of a process has been seen running 1.1–1.7× slow without it).
 * - Calibration: a variant runs with doubling n until a batch lasts a while, then n is scaled
 *   so one batch takes `batchMs` (~8 ms), then `warmupBatches` more batches run untimed.
 * - Rounds: every round runs one batch of every variant, in an order that rotates each round,
 *   timed with `process.hrtime.bigint()`. Noise that hits one time window hits all variants
 *   of that round about equally, so the per-round ratio against a baseline variant is the
 *   stable figure; its median over the rounds is reported.
 * - `check()` (optional) runs after every batch, outside the timed region, and throws on
 *   anything wrong (a checksum mismatch, a rejected message).
 * - Latency pass: blocks of `block` operations timed one by one, giving a distribution of
 *   ns/op over blocks (a block of 64 frames is ~100 µs: timer overhead is negligible).
 * - Environment: CPU, cores, Node/V8, commit, load, and the CPU share other processes used
 *   during a measurement (from /proc/stat minus this process's own CPU time).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Results of every timed batch are folded in here (and printed at the end). */
export let sink = 0;

/** Fold a result into the sink (for timing loops outside this module). */
export function consume(x: number): void {
  sink ^= x | 0;
}

export interface BenchVariant {
  readonly id: string;
  readonly label: string;
  /** Perform n operations; the return value goes to the sink. */
  run(n: number): number;
  /** Verify state after a batch; throw on any problem. Not timed. */
  check?(): void;
}

export interface HarnessOptions {
  rounds: number;
  batchMs: number;
  /** Untimed running per variant before calibration, so every variant reaches optimised code. */
  prewarmMs: number;
  warmupBatches: number;
  /** Ids of the variants to compute per-round ratios against. */
  baselines: readonly string[];
}

export interface Stats {
  n: number;
  min: number;
  p10: number;
  median: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface VariantResult {
  id: string;
  label: string;
  opsPerBatch: number;
  /** ns per operation (wall clock), one value per round. */
  nsPerOp: Stats;
  samples: number[];
  /**
   * CPU time of this process per operation (process.cpuUsage, µs resolution, includes GC and
   * compiler threads). Unlike wall time it excludes time the thread was preempted, so on a
   * busy shared machine it is the steadier figure; wall ≫ CPU means the run was disturbed.
   */
  cpuNsPerOp: Stats;
  /** Per baseline id: statistics of (this variant's ns/op ÷ baseline's ns/op) over rounds. */
  ratios: Record<string, { median: number; p10: number; p90: number }>;
}

/** Percentile by linear interpolation between order statistics (sorted input). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    min: s[0] ?? NaN,
    p10: quantile(s, 0.1),
    median: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    p999: quantile(s, 0.999),
    max: s[s.length - 1] ?? NaN,
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
  };
}

/** CPU time (µs, all threads of this process) consumed by the last timeBatch. */
let lastCpuUs = 0;

function timeBatch(v: BenchVariant, n: number): number {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = v.run(n);
  const t1 = process.hrtime.bigint();
  const c1 = process.cpuUsage(c0);
  lastCpuUs = c1.user + c1.system;
  sink ^= r | 0;
  return Number(t1 - t0);
}

function prewarm(v: BenchVariant, ms: number): void {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  let n = 1;
  while (process.hrtime.bigint() < end) {
    sink ^= v.run(n) | 0;
    v.check?.();
    if (n < 4096) n *= 2;
  }
}

/** n such that one batch of `v` takes about `batchMs`. */
export function calibrate(v: BenchVariant, batchMs: number): number {
  const target = batchMs * 1e6;
  let n = 1;
  let ns = timeBatch(v, n);
  v.check?.();
  while (ns < target / 4 && n < 1 << 30) {
    n *= 2;
    ns = timeBatch(v, n);
    v.check?.();
  }
  // Two refinement passes: the first batches still run partly unoptimised code.
  for (let k = 0; k < 2; k++) {
    n = Math.max(1, Math.round((n * target) / ns));
    ns = timeBatch(v, n);
    v.check?.();
  }
  return Math.max(1, Math.round((n * target) / ns));
}

export function runInterleaved(variants: readonly BenchVariant[], opts: HarnessOptions, progress?: (msg: string) => void): VariantResult[] {
  for (const v of variants) prewarm(v, opts.prewarmMs);
  const ns: number[] = variants.map((v) => calibrate(v, opts.batchMs));
  for (let w = 0; w < opts.warmupBatches; w++) {
    variants.forEach((v, i) => {
      timeBatch(v, ns[i]!);
      v.check?.();
    });
  }
  const samples: number[][] = variants.map(() => []);
  const cpu: number[][] = variants.map(() => []);
  const V = variants.length;
  for (let r = 0; r < opts.rounds; r++) {
    for (let k = 0; k < V; k++) {
      const i = (r + k) % V;
      const v = variants[i]!;
      const t = timeBatch(v, ns[i]!);
      v.check?.();
      samples[i]!.push(t / ns[i]!);
      cpu[i]!.push((lastCpuUs * 1000) / ns[i]!);
    }
    if (progress !== undefined && (r + 1) % 10 === 0) progress(`round ${r + 1}/${opts.rounds}`);
  }
  return variants.map((v, i) => {
    const ratios: VariantResult['ratios'] = {};
    for (const b of opts.baselines) {
      const j = variants.findIndex((x) => x.id === b);
      if (j < 0) continue;
      const per = samples[i]!.map((x, r) => x / samples[j]![r]!);
      const s = stats(per);
      ratios[b] = { median: s.median, p10: s.p10, p90: s.p90 };
    }
    return { id: v.id, label: v.label, opsPerBatch: ns[i]!, nsPerOp: stats(samples[i]!), samples: samples[i]!, cpuNsPerOp: stats(cpu[i]!), ratios };
  });
}

export interface LatencyResult {
  block: number;
  blocks: number;
  /** ns per operation within a block, distribution over blocks. */
  nsPerOp: Stats;
}

/** Time `block` operations at a time until `maxMs` has passed or `maxBlocks` blocks ran. */
export function latencyPass(v: BenchVariant, block: number, maxMs: number, maxBlocks: number): LatencyResult {
  const out: number[] = [];
  const deadline = process.hrtime.bigint() + BigInt(Math.round(maxMs * 1e6));
  let k = 0;
  while (out.length < maxBlocks) {
    const t0 = process.hrtime.bigint();
    sink ^= v.run(block) | 0;
    const t1 = process.hrtime.bigint();
    out.push(Number(t1 - t0) / block);
    if ((++k & 15) === 0) {
      v.check?.();
      if (t1 > deadline) break;
    }
  }
  v.check?.();
  return { block, blocks: out.length, nsPerOp: stats(out) };
}

/** Cost of one `process.hrtime.bigint()` pair, to subtract from single-operation timings. */
export function timerOverheadNs(): number {
  const s: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t0 = process.hrtime.bigint();
    const t1 = process.hrtime.bigint();
    s.push(Number(t1 - t0));
  }
  return stats(s).median;
}

// ------------------------------------------------------------------ machine calibration

let calY = 0;

/**
 * Two fixed reference workloads, so runs can be compared across days, measured on the
 * same VM class when quiet: a dependent int32 multiply-add chain (~4 cycles, ~1.4 ns per
 * iteration at ~2.9 GHz) and JSON.parse of a two-level book update (~2.0–2.1 µs for 213 B).
 * ALU speed and allocation/memory-heavy speed drift differently when the host is busy.
 * (`(y * 31 + i) | 0` is not used: V8 11.3 keeps it in double arithmetic here, ~5.5 ns.)
 * Each figure is the median of 15 timed repetitions after 300 ms of warm-up.
 */
export function machineCalibration(): { intLoopNsPerIter: number; jsonParseNs: number } {
  const loop = (n: number) => {
    let y = calY;
    for (let i = 0; i < n; i++) y = (Math.imul(y, 31) + i) | 0;
    calY = y;
  };
  const text =
    '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.10000000}],"asks":[{"price":45285.2,"qty":0.00100000}],"checksum":3310070434,"timestamp":"2026-08-16T23:37:03.745044Z"}]}';
  const parse = (n: number) => {
    let a = 0;
    for (let i = 0; i < n; i++) a ^= (JSON.parse(text) as { data: unknown[] }).data.length;
    calY ^= a;
  };
  const time = (f: (n: number) => void, n: number) => {
    // warm-up: optimised code, and a young generation grown to its working size
    const until = process.hrtime.bigint() + 300_000_000n;
    while (process.hrtime.bigint() < until) f(n);
    const s: number[] = [];
    for (let r = 0; r < 15; r++) {
      const t0 = process.hrtime.bigint();
      f(n);
      s.push(Number(process.hrtime.bigint() - t0) / n);
    }
    return stats(s).median;
  };
  return {
    intLoopNsPerIter: Math.round(time(loop, 2_000_000) * 100) / 100,
    jsonParseNs: Math.round(time(parse, 5_000)),
  };
}

// ------------------------------------------------------------------ environment

export interface Environment {
  date: string;
  cpu: string;
  cores: number;
  node: string;
  v8: string;
  platform: string;
  commit: string | null;
  /** Whether tracked files differ from that commit (the measured code is not exactly the commit). */
  dirty: boolean | null;
  loadavg: number[];
  totalMemGiB: number;
  argv: string[];
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) return m[1]!.trim();
  } catch {
    /* not Linux */
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** Short commit of the checkout, or null outside git. */
export function gitCommit(): string | null {
  try {
    const c = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    return c === '' ? null : c;
  } catch {
    return null;
  }
}

function gitDirty(): boolean | null {
  try {
    const out = execFileSync('git', ['--no-optional-locks', 'status', '--porcelain', '--untracked-files=no'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString();
    return out.trim() !== '';
  } catch {
    return null;
  }
}

export function environment(): Environment {
  return {
    date: new Date().toISOString(),
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    commit: gitCommit(),
    dirty: gitDirty(),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    totalMemGiB: Math.round(os.totalmem() / 2 ** 30),
    argv: process.argv.slice(2),
  };
}

interface CpuSample {
  busy: number;
  total: number;
  steal: number;
  ownUs: number;
  at: bigint;
}

function readProcStat(): { busy: number; total: number; steal: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice (guest counted in user)
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const steal = f[7] ?? 0;
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    // busy = work done on this VM's CPUs; steal (the hypervisor running others) is counted apart
    return { busy: total - idle - steal, total, steal };
  } catch {
    return null;
  }
}

export function cpuSample(): CpuSample | null {
  const s = readProcStat();
  if (s === null) return null;
  const u = process.cpuUsage();
  return { ...s, ownUs: u.user + u.system, at: process.hrtime.bigint() };
}

export interface CpuShare {
  /** Share of the whole machine's CPU used by other processes during the interval (0–1). */
  others: number;
  /** Share of machine CPU time stolen by the hypervisor. */
  steal: number;
}

/** CPU used by *other* processes between two samples, as a share of all cores. */
export function cpuShare(a: CpuSample | null, b: CpuSample | null): CpuShare | null {
  if (a === null || b === null) return null;
  const total = b.total - a.total;
  if (total <= 0) return null;
  const hz = 100; // USER_HZ: /proc/stat counts in 1/100 s on Linux
  const ownTicks = ((b.ownUs - a.ownUs) / 1e6) * hz;
  const others = Math.max(0, (b.busy - a.busy - ownTicks) / total);
  return { others: Math.round(others * 1000) / 1000, steal: Math.round(((b.steal - a.steal) / total) * 1000) / 1000 };
}

/**
 * Wait (up to `maxMs`) until other processes plus hypervisor steal use less than `threshold`
 * of the machine over a 1 s window. Returns how long it waited and the last share seen.
 */
export async function waitForQuiet(threshold: number, maxMs: number): Promise<{ waitedMs: number; othersBusy: number | null }> {
  const start = Date.now();
  let last: number | null = null;
  for (;;) {
    const a = cpuSample();
    await new Promise((r) => setTimeout(r, 1000));
    const s = cpuShare(a, cpuSample());
    last = s === null ? null : s.others + s.steal;
    if (last === null || last < threshold || Date.now() - start >= maxMs) return { waitedMs: Date.now() - start, othersBusy: last };
  }
}
