/**
 * `npm run bench:hotpath` — the hot path of a Kraken v2 book update, ours against CCXT Pro.
 *
 * Variants per depth (10, 100, 1000); every one verifies every checksum and aborts loudly on
 * any mismatch, rejection or final-book difference:
 *   (a)  scan      BookScanner + OrderBook.apply (parse + apply + incremental checksum) on the
 *                  frame Buffer, realistic stream (trailing zeros on the wire);
 *   (a') scan·cc   the same on ccxt's stream (no trailing zeros), for like-for-like ratios;
 *   (b)  session   KrakenSession.onFrame → InstrumentActor risk record → msgpack encode in
 *                  onRisk; on the book-only stream at every depth, and on the 4-instrument
 *                  mix with trades and tickers at depth 10 (the per-frame target);
 *   (c)  ccxt on   ccxt 4.5.84 text path with checksum on (patched, see bench/ccxt-kraken.ts);
 *   (d)  ccxt off  ccxt text path, default options (no checksum).
 *
 * Per-stage costs (parse, book apply, checksum, risk, encode) come from four more variants
 * in the same interleaved rounds, each one stage longer than the last on the same frames:
 *   st-parse   BookScanner.scan only;
 *   st-levels  + the level loop of OrderBook.apply (scale, set/insert/delete, truncate), no checksum;
 *   scan       + the incremental checksum (variant (a) above: OrderBook.apply as the engine calls it);
 *   st-risk    InstrumentActor.onBook instead (apply + checksum + the risk record);
 *   st-encode  + createRiskEncoder().encode of the record.
 * A stage's cost is the per-round difference between consecutive variants (median over rounds).
 *
 * Output: a table on stdout, JSON in bench/results/ (dated + latest), and the hot-path section
 * of docs/benchmarks.md regenerated from that JSON (bench/render.ts). Targets are printed as
 * PASS/MISS; a miss does not fail the process. See bench/README.md for knobs and method.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { OrderBook } from '../actors/book.js';
import { fracToPrecision, POW10 } from '../actors/decimal.js';
import { LevelBatch, Side } from '../actors/levels.js';
import { InstrumentActor } from '../actors/instrument.js';
import { BookScanner } from '../adapters/kraken/parser.js';
import { KrakenSession } from '../adapters/kraken/session.js';
import { createRiskEncoder } from '../adapters/nats/codec.js';
import type { Log } from '../engine/ports.js';
import { createCcxtKraken, diffCcxtBook } from './ccxt-kraken.js';
import { FrameKind, generateBookStream, generateMixStream, type BookStream, type MixStream, type TextLevel } from './generator.js';
import {
  consume,
  cpuSample,
  cpuShare,
  machineCalibration,
  environment,
  latencyPass,
  runInterleaved,
  sink,
  stats,
  timerOverheadNs,
  waitForQuiet,
  type BenchVariant,
  type CpuShare,
  type LatencyResult,
  type Stats,
  type VariantResult,
} from './harness.js';
import { renderHotpathSection, repoRoot, updateBenchmarksDoc, writeHotpathCharts } from './render.js';

// ------------------------------------------------------------------ configuration

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const QUICK = flag('quick');
const num = (env: string, dflt: number) => {
  const v = process.env[env];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${env} must be a positive number (got "${v}")`);
  return n;
};

export const config = {
  quick: QUICK,
  rounds: Math.max(21, Math.round(num('ROUNDS', QUICK ? 21 : 41))),
  batchMs: num('BATCH_MS', QUICK ? 4 : 8),
  warmupBatches: Math.round(num('WARMUP', QUICK ? 2 : 5)),
  /** Untimed running per variant before calibration (ms). */
  prewarmMs: num('PREWARM_MS', QUICK ? 100 : 250),
  depths: (process.env.DEPTHS ?? '10,100,1000').split(',').map((d) => {
    const n = Number(d.trim());
    if (![10, 25, 100, 500, 1000].includes(n)) throw new Error(`DEPTHS: ${d} is not a Kraken depth (10, 25, 100, 500, 1000)`);
    return n;
  }),
  /** Updates per book stream cycle (after the snapshot). */
  updates: Math.round(num('UPDATES', QUICK ? 5000 : 20000)),
  /** Frames of the depth-10 mix (after the 4 snapshots). */
  mixFrames: Math.round(num('MIX_FRAMES', QUICK ? 10000 : 40000)),
  /** Latency pass: ms per variant, frames per timed block. */
  latencyMs: num('LAT_MS', QUICK ? 60 : 300),
  latencyBlock: Math.round(num('LAT_BLOCK', 64)),
  seed: Math.round(num('SEED', 20260816)),
  profile: flag('profile') || (!QUICK && !flag('no-profile') && process.env.PROFILE !== '0'),
  profileMs: num('PROFILE_MS', 1500),
  /** Variants profiled at every depth (ccxt-on only at the first depth). */
  profileVariants: (process.env.PROFILE_VARIANTS ?? 'scan,session,session-mix,ccxt-on').split(','),
  quietThreshold: num('QUIET', 0.3),
  /** Wait up to this long at the start for other processes to go quiet (0: do not wait). */
  quietWaitMs: process.env.QUIET_WAIT_MS === '0' ? 0 : num('QUIET_WAIT_MS', QUICK ? 1 : 20000),
  only: opt('only')?.split(',') ?? null,
  write: !flag('no-write'),
  docs: !flag('no-docs') && (!QUICK || flag('docs')),
};

export const TARGETS = {
  scanMedianNs: 1500,
  mixMedianNs: 5000,
  speedupVsCcxtOn: 20,
  speedupVsCcxtOff: 5,
};

const log = (msg: string) => process.stderr.write(`[bench:hotpath] ${msg}\n`);
const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

class BenchFailure extends Error {}
function fail(msg: string): never {
  throw new BenchFailure(msg);
}

// ------------------------------------------------------------------ variants

interface Variant extends BenchVariant {
  readonly unit: 'book message' | 'frame';
  readonly stream: string;
  /** Feed the rest of the current stream cycle, then compare the final book(s) with the generator's. */
  finish(): void;
}

function expectBook(book: OrderBook, expected: { bids: readonly TextLevel[]; asks: readonly TextLevel[] }, what: string): void {
  for (const [name, side, sign] of [
    ['bids', book.bids, -1],
    ['asks', book.asks, 1],
  ] as const) {
    const want = expected[name];
    if (side.n !== want.length) fail(`${what}: ${name} has ${side.n} levels, generator ${want.length}`);
    for (let i = 0; i < want.length; i++) {
      const w = want[i]!;
      const ticks = Number(w.price.replace('.', ''));
      const [qi, qf = ''] = w.qty.split('.');
      if (side.key[i]! * sign !== ticks || side.hi[i] !== Number(qi) || side.lo[i] !== Number(qf || '0')) {
        fail(`${what}: ${name}[${i}] differs from the generator's ${w.price} ${w.qty}`);
      }
    }
  }
}

/** (a) BookScanner + OrderBook on the raw frame Buffer. */
function scanVariant(id: string, label: string, s: BookStream): Variant {
  const scanner = new BookScanner();
  const batch = new LevelBatch(64);
  const book = new OrderBook(s.depth, s.spec.pricePrecision, s.spec.qtyPrecision);
  const frames = s.frames;
  const len = frames.length;
  let i = 0;
  const v: Variant = {
    id,
    label,
    unit: 'book message',
    stream: s.ccxtCompat ? 'book, no trailing zeros (ccxt-compatible)' : 'book, full precision',
    run(n) {
      let acc = 0;
      for (let k = 0; k < n; k++) {
        const f = frames[i]!;
        if (!scanner.scan(f, batch)) fail(`${id}: scanner refused frame ${i}`);
        if (batch.checksum < 0) fail(`${id}: frame ${i} carries no checksum`);
        const r = book.apply(batch);
        if (r !== 0) fail(`${id}: apply returned ${r} (checksum mismatch or precision) at frame ${i}`);
        acc ^= book.crc;
        if (++i === len) i = 0;
      }
      return acc;
    },
    finish() {
      if (i !== 0) v.run(len - i);
      expectBook(book, s.finalBook, id);
    },
  };
  return v;
}

// ------------------------------------------------------------------ stage variants (cumulative)

type StageKind = 'parse' | 'levels' | 'risk' | 'encode';

/**
 * One variant per cumulative stage on the same frames: `parse` (scan only), `levels` (scan +
 * the level loop of OrderBook.apply without the checksum), `risk` (scan + InstrumentActor.onBook:
 * apply, checksum, risk record), `encode` (the same + msgpack). The `levels` loop is
 * OrderBook.apply's own, written out with the book's public API and its `checksum()` left out.
 */
function stageVariant(id: string, label: string, kind: StageKind, s: BookStream): Variant {
  const scanner = new BookScanner();
  const batch = new LevelBatch(64);
  const book = new OrderBook(s.depth, s.spec.pricePrecision, s.spec.qtyPrecision);
  const actor = new InstrumentActor(s.spec.symbol, s.depth, false, 0);
  actor.setPrecision(s.spec.pricePrecision, s.spec.qtyPrecision);
  const encoder = createRiskEncoder();
  const frames = s.frames;
  const len = frames.length;
  const depth = s.depth;
  let i = 0;
  let scanned = 0;
  const levels = (b: LevelBatch): number => {
    if (b.isSnapshot) book.clear();
    else book.updates++;
    const pp = book.pricePrecision;
    const qp = book.qtyPrecision;
    const pScale = POW10[pp]!;
    for (let k = 0; k < b.count; k++) {
      const pf = fracToPrecision(b.pFrac[k]!, b.pLen[k]!, pp);
      const ql = fracToPrecision(b.qFrac[k]!, b.qLen[k]!, qp);
      if (pf < 0 || ql < 0) return 2;
      const ticks = b.pInt[k]! * pScale + pf;
      if (b.side[k] === Side.BID) book.bids.set(-ticks, b.qInt[k]!, ql);
      else book.asks.set(ticks, b.qInt[k]!, ql);
    }
    book.bids.truncate(depth);
    book.asks.truncate(depth);
    return 0;
  };
  const v: Variant = {
    id,
    label,
    unit: 'book message',
    stream: 'book, full precision',
    run(n) {
      let acc = 0;
      for (let k = 0; k < n; k++) {
        const f = frames[i]!;
        if (!scanner.scan(f, batch)) fail(`${id}: scanner refused frame ${i}`);
        scanned++;
        if (kind === 'parse') acc ^= batch.count ^ batch.checksum;
        else if (kind === 'levels') {
          if (levels(batch) !== 0) fail(`${id}: level beyond precision at frame ${i}`);
          acc ^= book.bids.n;
        } else {
          const r = actor.onBook(batch, i);
          if (r !== 0) fail(`${id}: onBook returned ${r} (checksum mismatch or precision) at frame ${i}`);
          if (kind === 'encode') {
            const bytes = encoder.encode(actor.risk);
            acc ^= bytes.length ^ bytes[bytes.length - 1]!;
          } else acc ^= actor.risk.checksum;
        }
        if (++i === len) i = 0;
      }
      return acc;
    },
    check() {
      if (kind === 'risk' || kind === 'encode') {
        const c = actor.counters;
        if (c.checksumMismatches !== 0 || c.precisionErrors !== 0 || c.ignored !== 0) fail(`${id}: actor counters ${JSON.stringify(c)}`);
        if (c.checksumsVerified !== scanned) fail(`${id}: ${c.checksumsVerified} checksums verified for ${scanned} frames`);
      }
    },
    finish() {
      if (i !== 0) v.run(len - i);
      v.check!();
      if (kind === 'levels') expectBook(book, s.finalBook, id);
      if (kind === 'risk' || kind === 'encode') expectBook(actor.book!, s.finalBook, id);
    },
  };
  return v;
}

interface SessionVariant extends Variant {
  /** Time every frame of one cycle individually (the harness batches hide per-kind costs). */
  timeEachFrame(overheadNs: number): Record<string, Stats>;
}

/** (b) The full per-frame path: KrakenSession.onFrame → risk record → msgpack encode. */
function sessionVariant(
  id: string,
  label: string,
  streamLabel: string,
  frames: readonly Buffer[],
  kinds: Uint8Array,
  specs: readonly { symbol: string; pricePrecision: number; qtyPrecision: number }[],
  depth: number,
  finalBooks: Record<string, { bids: TextLevel[]; asks: TextLevel[] }>,
): SessionVariant {
  const encoder = createRiskEncoder();
  let acc = 0;
  let encoded = 0;
  const session = new KrakenSession(
    specs.map((x) => x.symbol),
    {
      depth,
      simulated: false,
      mode: 'replay',
      clock: { nowUs: () => 0 },
      timers: { setTimeout: () => null, clearTimeout() {} },
      log: silentLog,
      onRisk(actor: InstrumentActor) {
        const bytes = encoder.encode(actor.risk);
        acc ^= bytes.length ^ bytes[bytes.length - 1]!;
        encoded++;
      },
      send() {},
      precision: new Map(specs.map((x) => [x.symbol, { price: x.pricePrecision, qty: x.qtyPrecision }])),
    },
  );
  const len = frames.length;
  // prefix counts so check() knows exactly how many book frames and trades went in
  const bookBefore = new Float64Array(len + 1);
  const tradeBefore = new Float64Array(len + 1);
  for (let k = 0; k < len; k++) {
    bookBefore[k + 1] = bookBefore[k]! + (kinds[k] === FrameKind.BOOK ? 1 : 0);
    tradeBefore[k + 1] = tradeBefore[k]! + (kinds[k] === FrameKind.TRADE ? 1 : 0);
  }
  let i = 0;
  let cycles = 0;
  const v: SessionVariant = {
    id,
    label,
    unit: kinds.some((k) => k !== FrameKind.BOOK) ? 'frame' : 'book message',
    stream: streamLabel,
    run(n) {
      acc = 0;
      for (let k = 0; k < n; k++) {
        session.onFrame(frames[i] as Buffer, i);
        if (++i === len) {
          i = 0;
          cycles++;
        }
      }
      return acc;
    },
    check() {
      const c = session.counters;
      if (c.scannerFallbacks !== 0 || c.malformed !== 0 || c.unexpected !== 0 || c.unknownSymbol !== 0) {
        fail(`${id}: session counters ${JSON.stringify(c)}`);
      }
      let verified = 0;
      for (const a of session.actors.values()) {
        const ac = a.counters;
        if (ac.checksumMismatches !== 0 || ac.precisionErrors !== 0 || ac.ignored !== 0) fail(`${id}: ${a.symbol} counters ${JSON.stringify(ac)}`);
        verified += ac.checksumsVerified;
      }
      const wantBook = cycles * bookBefore[len]! + bookBefore[i]!;
      const wantTrades = cycles * tradeBefore[len]! + tradeBefore[i]!;
      if (verified !== wantBook) fail(`${id}: ${verified} checksums verified for ${wantBook} book frames`);
      if (c.trades !== wantTrades) fail(`${id}: ${c.trades} trades handled for ${wantTrades} trade frames`);
      if (encoded < verified) fail(`${id}: only ${encoded} risk records encoded for ${verified} book frames`);
    },
    finish() {
      if (i !== 0) v.run(len - i);
      v.check!();
      for (const [sym, want] of Object.entries(finalBooks)) {
        const book = session.actors.get(sym)?.book;
        if (book == null) fail(`${id}: no book for ${sym}`);
        expectBook(book, want, `${id} ${sym}`);
      }
    },
    timeEachFrame(overheadNs) {
      const names = ['book', 'trade', 'ticker'];
      const per: number[][] = [[], [], []];
      if (i !== 0) v.run(len - i);
      for (let k = 0; k < len; k++) {
        const t0 = process.hrtime.bigint();
        session.onFrame(frames[k] as Buffer, k);
        const t1 = process.hrtime.bigint();
        per[kinds[k]!]!.push(Math.max(0, Number(t1 - t0) - overheadNs));
      }
      cycles++;
      v.check!();
      const out: Record<string, Stats> = {};
      per.forEach((p, k) => {
        if (p.length > 0) out[names[k]!] = stats(p);
      });
      return out;
    },
  };
  return v;
}

/** (c)/(d) ccxt's Kraken handler fed through client.onMessage. */
function ccxtVariant(id: string, label: string, s: BookStream, checksum: boolean): Variant {
  if (!s.ccxtCompat && checksum) throw new Error('ccxt with checksum on needs a ccxtCompat stream');
  const feed = createCcxtKraken({ checksum });
  const texts = s.texts;
  const len = texts.length;
  const symbol = s.spec.symbol;
  let i = 0;
  const v: Variant = {
    id,
    label,
    unit: 'book message',
    stream: 'book, no trailing zeros (ccxt-compatible)',
    run(n) {
      for (let k = 0; k < n; k++) {
        feed.onText(texts[i]!);
        if (++i === len) i = 0;
      }
      return feed.book(symbol)?.asks.length ?? -1;
    },
    check() {
      if (feed.errors() !== 0) fail(`${id}: ccxt reported ${feed.errors()} error(s), last: ${feed.firstError()}`);
      if (feed.book(symbol) === undefined) fail(`${id}: ccxt has no book for ${symbol}`);
    },
    finish() {
      if (i !== 0) v.run(len - i);
      v.check!();
      const d = diffCcxtBook(feed.book(symbol), s.finalBook);
      if (d !== null) fail(`${id}: ccxt's final book differs from the generator's: ${d}`);
    },
  };
  return v;
}

// ------------------------------------------------------------------ CPU profile (node's V8 sampling profiler, in process)

export interface ProfileEntry {
  fn: string;
  file: string;
  selfPct: number;
}

export interface ProfileResult {
  variant: string;
  depth: number;
  ms: number;
  samples: number;
  top: ProfileEntry[];
  byFile: { file: string; selfPct: number }[];
}

/** Group for the by-file summary: a package name for node_modules, else the source file. */
function fileGroup(file: string): string {
  if (/^(actors|adapters|bench|engine)\//.test(file) || file.startsWith('node:')) return file;
  const parts = file.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const root = repoRoot();
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 14);
  if (u.startsWith(root)) u = u.slice(root.length + 1);
  return u.replace(/^.*\/(actors|adapters|bench|engine)\//, '$1/');
}

async function profileVariant(v: BenchVariant, depth: number, opsPerBatch: number, ms: number): Promise<ProfileResult> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  let r = 0;
  while (process.hrtime.bigint() < end) {
    r ^= v.run(opsPerBatch);
    v.check?.();
  }
  consume(r);
  const { profile } = await session.post('Profiler.stop');
  await session.post('Profiler.disable');
  session.disconnect();
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { fn: string; file: string; us: number }>();
  const files = new Map<string, number>();
  let total = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let k = 0; k < samples.length; k++) {
    const node = nodes.get(samples[k]!);
    if (node === undefined) continue;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') continue;
    const dt = deltas[k + 1] ?? deltas[k] ?? 0; // a sample's duration is the gap to the next one
    total += dt;
    const file = shortUrl(cf.url);
    const fn = cf.functionName === '' ? '(anonymous)' : cf.functionName;
    const key = `${fn}\u0000${file}:${cf.lineNumber}`;
    // tsx emits whitespace-minified code, so its line numbers mean nothing: name the file only
    const where = cf.url === '' || cf.url.endsWith('.ts') ? file : `${file}:${cf.lineNumber + 1}`;
    const e = self.get(key) ?? { fn, file: where, us: 0 };
    e.us += dt;
    self.set(key, e);
    const fk = cf.url === '' ? fn : fileGroup(file);
    files.set(fk, (files.get(fk) ?? 0) + dt);
  }
  const pct = (us: number) => Math.round((1000 * us) / (total || 1)) / 10;
  return {
    variant: v.id,
    depth,
    ms,
    samples: samples.length,
    top: [...self.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, 14)
      .map((e) => ({ fn: e.fn, file: e.file, selfPct: pct(e.us) })),
    byFile: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([file, us]) => ({ file, selfPct: pct(us) })),
  };
}

// ------------------------------------------------------------------ main

export interface VariantRecord {
  id: string;
  label: string;
  unit: string;
  stream: string;
  opsPerBatch: number;
  nsPerOp: Stats;
  /** Process CPU time per op (see harness.ts): steadier than wall time on a busy machine. */
  cpuNsPerOp: Stats;
  opsPerSecAtMedian: number;
  /** Per-round median of (this ns ÷ baseline ns), and the speed-up it implies (1 ÷ ratio). */
  vsCcxtOn: { ratio: number; speedup: number; ratioP10: number; ratioP90: number } | null;
  vsCcxtOff: { ratio: number; speedup: number; ratioP10: number; ratioP90: number } | null;
  latency: LatencyResult | null;
}

export interface StageCost {
  /** ns per book message: median, p10 and p90 over rounds of the per-round difference. */
  median: number;
  p10: number;
  p90: number;
}

export interface StageRecord {
  parse: StageCost;
  apply: StageCost;
  checksum: StageCost;
  risk: StageCost;
  encode: StageCost;
  /** parse through encode (the st-encode variant). */
  total: StageCost;
  /** KrakenSession.onFrame → encode minus the stage total: dispatch, actor lookup, onRisk. */
  session: StageCost | null;
  /** ccxt on the ccxt-compatible stream: parse + apply with checksum off, and what the checksum adds. */
  ccxtParseApply: StageCost | null;
  ccxtChecksum: StageCost | null;
}

export interface BlockRecord {
  depth: number;
  seconds: number;
  cpu: CpuShare | null;
  streams: Record<string, unknown>;
  variants: VariantRecord[];
  stages: StageRecord | null;
}

export interface TargetRecord {
  id: string;
  text: string;
  depth: number | null;
  measured: number;
  target: number;
  unit: string;
  better: 'lower' | 'higher';
  pass: boolean;
  /** How far from the target: for 'lower' measured/target − 1, for 'higher' 1 − measured/target (>0 = missed). */
  missBy: number;
}

export interface HotpathResults {
  schema: 'aether-bench-hotpath/1';
  env: ReturnType<typeof environment>;
  runtime: string;
  config: typeof config;
  quiet: { waitedMs: number; othersBusy: number | null } | null;
  /** Reference workloads before and after the run (see harness.ts machineCalibration). */
  calibration: { start: ReturnType<typeof machineCalibration>; end: ReturnType<typeof machineCalibration> };
  timerOverheadNs: number;
  blocks: BlockRecord[];
  mixByKind: Record<string, Stats> | null;
  mix: { frames: number; counts: MixStream['counts']; meanBytes: number } | null;
  targets: TargetRecord[];
  profiles: ProfileResult[];
  totalSeconds: number;
  sink: number;
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');

function ratioOf(r: VariantResult, base: string): VariantRecord['vsCcxtOn'] {
  const x = r.ratios[base];
  if (x === undefined) return null;
  return { ratio: x.median, speedup: 1 / x.median, ratioP10: x.p10, ratioP90: x.p90 };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const env = environment();
  const runtime = import.meta.url.endsWith('.ts') ? 'tsx (esbuild transpile on load)' : 'compiled JS';
  log(`${env.cpu}, ${env.cores} cores, Node ${env.node}, commit ${env.commit ?? 'n/a'}, load ${env.loadavg.join(' ')}; ${runtime}`);
  log(`rounds ${config.rounds}, batch ${config.batchMs} ms, depths ${config.depths.join('/')}, ${config.updates} updates/cycle${QUICK ? ' (quick)' : ''}`);
  let quiet: HotpathResults['quiet'] = null;
  if (config.quietWaitMs > 0) {
    quiet = await waitForQuiet(config.quietThreshold, config.quietWaitMs);
    log(`machine: other processes + steal ${quiet.othersBusy === null ? 'n/a' : `${Math.round(quiet.othersBusy * 100)} %`} after waiting ${quiet.waitedMs} ms for < ${config.quietThreshold * 100} %`);
  }
  const overhead = timerOverheadNs();
  const calStart = machineCalibration();
  log(`calibration: integer loop ${calStart.intLoopNsPerIter} ns/iter, JSON.parse (216 B update) ${calStart.jsonParseNs} ns`);
  const blocks: BlockRecord[] = [];
  const profiles: ProfileResult[] = [];
  const want = (id: string) => config.only === null || config.only.includes(id);
  let mixByKind: Record<string, Stats> | null = null;
  let mixInfo: HotpathResults['mix'] = null;
  const toProfile: { v: BenchVariant; depth: number; ops: number }[] = [];

  for (const depth of config.depths) {
    const tb = Date.now();
    log(`depth ${depth}: generating streams`);
    const real = generateBookStream({ depth, updates: config.updates, seed: config.seed + depth, ccxtCompat: false });
    const compat = generateBookStream({ depth, updates: config.updates, seed: config.seed + depth, ccxtCompat: true });
    const variants: Variant[] = [];
    if (want('ccxt-on')) variants.push(ccxtVariant('ccxt-on', '(c) ccxt 4.5.84 text, checksum on (patched)', compat, true));
    if (want('ccxt-off')) variants.push(ccxtVariant('ccxt-off', '(d) ccxt 4.5.84 text, checksum off (default)', compat, false));
    if (want('scan')) variants.push(scanVariant('scan', '(a) ours: BookScanner + OrderBook (parse+apply+checksum)', real));
    if (want('scan-cc')) variants.push(scanVariant('scan-cc', "(a') ours, same on ccxt's stream", compat));
    if (want('st-parse')) variants.push(stageVariant('st-parse', 'stage: BookScanner.scan', 'parse', real));
    if (want('st-levels')) variants.push(stageVariant('st-levels', 'stage: scan + OrderBook level loop (no checksum)', 'levels', real));
    if (want('st-risk')) variants.push(stageVariant('st-risk', 'stage: scan + InstrumentActor.onBook (apply, checksum, risk)', 'risk', real));
    if (want('st-encode')) variants.push(stageVariant('st-encode', 'stage: scan + onBook + createRiskEncoder().encode', 'encode', real));
    if (want('session')) {
      variants.push(
        sessionVariant('session', '(b) ours: KrakenSession.onFrame → risk → msgpack', 'book, full precision', real.frames, new Uint8Array(real.frames.length), [real.spec], depth, {
          [real.spec.symbol]: real.finalBook,
        }),
      );
    }
    let mixVariant: SessionVariant | null = null;
    if (depth === 10 && want('session-mix')) {
      const mix = generateMixStream({ depth, frames: config.mixFrames, seed: config.seed });
      mixInfo = { frames: mix.frames.length, counts: mix.counts, meanBytes: mix.meanBytes };
      mixVariant = sessionVariant(
        'session-mix',
        '(b) ours: KrakenSession.onFrame → risk → msgpack, 4-instrument mix',
        'mix: 85 % book, 10 % trade, 5 % ticker; BTC/ETH/SOL/XRP',
        mix.frames,
        mix.kinds,
        mix.instruments,
        depth,
        mix.finalBooks,
      );
      variants.push(mixVariant);
    }
    if (variants.length === 0) continue;
    // One full verified cycle per variant before timing: every checksum, final books equal.
    log(`depth ${depth}: verification pass`);
    for (const v of variants) {
      v.run(1);
      v.finish();
    }
    log(`depth ${depth}: ${variants.length} variants × ${config.rounds} rounds`);
    const c0 = cpuSample();
    const results = runInterleaved(variants, { rounds: config.rounds, batchMs: config.batchMs, prewarmMs: config.prewarmMs, warmupBatches: config.warmupBatches, baselines: ['ccxt-on', 'ccxt-off'] }, (m) =>
      log(`depth ${depth}: ${m}`),
    );
    const cpu = cpuShare(c0, cpuSample());
    log(`depth ${depth}: latency pass (${config.latencyBlock}-frame blocks)`);
    const latency = new Map<string, LatencyResult>();
    for (const v of variants) if (!v.id.startsWith('st-')) latency.set(v.id, latencyPass(v, config.latencyBlock, config.latencyMs, 20000));
    for (const v of variants) v.finish();
    if (mixVariant !== null) mixByKind = mixVariant.timeEachFrame(overhead);
    if (config.profile) {
      for (const r of results) {
        const v = variants.find((x) => x.id === r.id)!;
        const pick = config.profileVariants.includes(r.id) && (r.id !== 'ccxt-on' || depth === config.depths[0]);
        if (pick) toProfile.push({ v, depth, ops: r.opsPerBatch });
      }
    }
    blocks.push({
      depth,
      seconds: Math.round((Date.now() - tb) / 100) / 10,
      cpu,
      streams: { realistic: real.stats, ccxtCompat: compat.stats },
      variants: results.map((r) => {
        const v = variants.find((x) => x.id === r.id)!;
        return {
          id: r.id,
          label: r.label,
          unit: v.unit,
          stream: v.stream,
          opsPerBatch: r.opsPerBatch,
          nsPerOp: r.nsPerOp,
          cpuNsPerOp: r.cpuNsPerOp,
          opsPerSecAtMedian: 1e9 / r.nsPerOp.median,
          vsCcxtOn: ratioOf(r, 'ccxt-on'),
          vsCcxtOff: ratioOf(r, 'ccxt-off'),
          latency: latency.get(r.id) ?? null,
        };
      }),
      stages: stageCosts(results),
    });
    printBlock(blocks[blocks.length - 1]!);
  }

  const targets = evaluateTargets(blocks);
  // Profile after all timing, so the profiler's sampling thread cannot disturb the figures.
  const missed = new Set(targets.filter((t) => !t.pass).map((t) => t.id));
  if (config.profile) {
    for (const p of toProfile) {
      log(`profiling ${p.v.id} at depth ${p.depth} for ${config.profileMs} ms`);
      profiles.push(await profileVariant(p.v, p.depth, p.ops, config.profileMs));
    }
  }
  const calEnd = machineCalibration();
  const results: HotpathResults = {
    schema: 'aether-bench-hotpath/1',
    env,
    runtime,
    config,
    quiet,
    calibration: { start: calStart, end: calEnd },
    timerOverheadNs: overhead,
    blocks,
    mixByKind,
    mix: mixInfo,
    targets,
    profiles,
    totalSeconds: Math.round((Date.now() - t0) / 100) / 10,
    sink,
  };
  printTargets(targets);
  if (mixByKind !== null) {
    console.log(`\nmix, single-frame timing (hrtime per frame, ${overhead} ns timer overhead subtracted):`);
    for (const [k, s] of Object.entries(mixByKind)) console.log(`  ${k.padEnd(7)} n=${s.n}  p50 ${fmt(s.median)} ns  p90 ${fmt(s.p90)}  p99 ${fmt(s.p99)}  p99.9 ${fmt(s.p999)}`);
  }
  for (const p of profiles) {
    console.log(`\nprofile ${p.variant} depth ${p.depth} (${p.samples} samples): ${p.top.slice(0, 8).map((e) => `${e.fn} ${e.selfPct}%`).join(', ')}`);
  }
  if (missed.size > 0) console.log(`\n${missed.size} target(s) missed (not a failure; see docs/benchmarks.md)`);
  if (config.write) {
    const dir = join(repoRoot(), 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const json = `${JSON.stringify(results, null, 1)}\n`;
    if (QUICK || config.only !== null) {
      writeFileSync(join(dir, 'hotpath-quick.json'), json);
      log(`wrote bench/results/hotpath-quick.json`);
    } else {
      const stamp = env.date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
      writeFileSync(join(dir, `hotpath-${stamp}.json`), json);
      writeFileSync(join(dir, 'hotpath-latest.json'), json);
      log(`wrote bench/results/hotpath-${stamp}.json and hotpath-latest.json`);
    }
    if (config.docs && config.only === null) {
      updateBenchmarksDoc(join(repoRoot(), 'docs', 'benchmarks.md'), renderHotpathSection(results));
      const charts = writeHotpathCharts(results, join(repoRoot(), 'docs'));
      log(`regenerated the hot-path section of docs/benchmarks.md${charts.length > 0 ? ` and ${charts.join(', ')}` : ''}`);
    }
  }
  log(`done in ${results.totalSeconds} s (sink ${sink})`);
}

/** Per-round differences between the cumulative stage variants (null when one is missing). */
function stageCosts(results: readonly VariantResult[]): StageRecord | null {
  const get = (id: string) => results.find((r) => r.id === id)?.samples;
  const diff = (a: number[] | undefined, b: number[] | null | undefined): StageCost | null => {
    if (a === undefined || b === undefined) return null;
    const s = stats(b === null ? a : a.map((x, r) => x - b[r]!));
    return { median: s.median, p10: s.p10, p90: s.p90 };
  };
  const parse = diff(get('st-parse'), null);
  const apply = diff(get('st-levels'), get('st-parse'));
  const checksum = diff(get('scan'), get('st-levels'));
  const risk = diff(get('st-risk'), get('scan'));
  const encode = diff(get('st-encode'), get('st-risk'));
  const total = diff(get('st-encode'), null);
  if (parse === null || apply === null || checksum === null || risk === null || encode === null || total === null) return null;
  return {
    parse,
    apply,
    checksum,
    risk,
    encode,
    total,
    session: diff(get('session'), get('st-encode')),
    ccxtParseApply: diff(get('ccxt-off'), null),
    ccxtChecksum: diff(get('ccxt-on'), get('ccxt-off')),
  };
}

function evaluateTargets(blocks: BlockRecord[]): TargetRecord[] {
  const out: TargetRecord[] = [];
  const add = (id: string, text: string, depth: number | null, measured: number | undefined, target: number, unit: string, better: 'lower' | 'higher') => {
    if (measured === undefined || !Number.isFinite(measured)) return;
    const pass = better === 'lower' ? measured <= target : measured >= target;
    const missBy = better === 'lower' ? measured / target - 1 : 1 - measured / target;
    out.push({ id, text, depth, measured, target, unit, better, pass, missBy });
  };
  for (const b of blocks) {
    const get = (id: string) => b.variants.find((v) => v.id === id);
    add('scan-median', '(a) parse + apply + checksum, median per book update', b.depth, get('scan')?.nsPerOp.median, TARGETS.scanMedianNs, 'ns', 'lower');
    if (b.depth === 10) add('mix-median', '(b) full frame path (session → risk → msgpack), depth-10 mix, median per frame', b.depth, get('session-mix')?.nsPerOp.median, TARGETS.mixMedianNs, 'ns', 'lower');
    const like = get('scan-cc') ?? get('scan');
    add('speedup-ccxt-on', "(a) speed-up over ccxt checksum on (per-round median, same stream)", b.depth, like?.vsCcxtOn?.speedup, TARGETS.speedupVsCcxtOn, '×', 'higher');
    add('speedup-ccxt-off', "(a) speed-up over ccxt checksum off (per-round median, same stream)", b.depth, like?.vsCcxtOff?.speedup, TARGETS.speedupVsCcxtOff, '×', 'higher');
  }
  return out;
}

function printBlock(b: BlockRecord): void {
  const other = b.cpu === null ? 'n/a' : `${Math.round(b.cpu.others * 100)} %, steal ${Math.round(b.cpu.steal * 100)} %`;
  console.log(`\ndepth ${b.depth} (${b.seconds} s; other processes used ${other} of the machine)`);
  const head = ['variant', 'ns/op p10', 'median', 'p99', 'cpu median', 'lat p50', 'lat p99', 'ops/s', 'vs ccxt on', 'vs ccxt off'];
  const rows = b.variants.filter((v) => !v.id.startsWith('st-')).map((v) => [
    `${v.id} (${v.unit})`,
    fmt(v.nsPerOp.p10),
    fmt(v.nsPerOp.median),
    fmt(v.nsPerOp.p99),
    fmt(v.cpuNsPerOp.median),
    fmt(v.latency?.nsPerOp.median ?? NaN),
    fmt(v.latency?.nsPerOp.p99 ?? NaN),
    fmt(v.opsPerSecAtMedian),
    v.vsCcxtOn === null ? '–' : `${fmt(v.vsCcxtOn.ratio, 3)} (${fmt(v.vsCcxtOn.speedup, 1)}×)`,
    v.vsCcxtOff === null ? '–' : `${fmt(v.vsCcxtOff.ratio, 3)} (${fmt(v.vsCcxtOff.speedup, 1)}×)`,
  ]);
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k]!.length)));
  const line = (r: string[]) => r.map((c, k) => (k === 0 ? c.padEnd(w[k]!) : c.padStart(w[k]!))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  const st = b.stages;
  if (st !== null) {
    const c = (x: StageCost | null) => (x === null ? '–' : fmt(x.median));
    console.log(
      `  per stage, ns/book message (median of per-round differences): parse ${c(st.parse)}, apply ${c(st.apply)}, checksum ${c(st.checksum)}, risk ${c(st.risk)}, encode ${c(st.encode)} = ${c(st.total)}; ` +
        `session overhead ${c(st.session)}; ccxt parse+apply ${c(st.ccxtParseApply)}, ccxt checksum ${c(st.ccxtChecksum)}`,
    );
  }
}

function printTargets(targets: TargetRecord[]): void {
  console.log('\ntargets:');
  for (const t of targets) {
    const m = t.unit === '×' ? `${fmt(t.measured, 1)}×` : `${fmt(t.measured)} ns`;
    const goal = t.unit === '×' ? `≥ ${t.target}×` : `≤ ${fmt(t.target)} ns`;
    const miss = t.pass ? '' : `  (missed by ${fmt(t.missBy * 100, 0)} %)`;
    console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.text}${t.depth === null ? '' : `, depth ${t.depth}`}: ${m} (target ${goal})${miss}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof BenchFailure) {
      process.stderr.write(`\n[bench:hotpath] VERIFICATION FAILED: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`\n[bench:hotpath] error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
