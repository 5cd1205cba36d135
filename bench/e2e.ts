/**
 * `npm run bench:e2e` — end to end across real processes: frame in → risk out.
 *
 *   bench/e2e-exchange.ts   the simulated Kraken exchange (adapters/kraken-sim) on a loopback
 *        │  WebSocket       port, sending book frames at a fixed rate, stamped at the send
 *        ▼
 *   engine process          `node bin/aether-risk.js start` (compiled dist/, rebuilt when stale),
 *        │  core NATS       worker actors, publishing every risk record (riskMaxRateHz 0)
 *        ▼
 *   bench/e2e-subscriber.ts decodes every record, checks it, and puts send → receive latency
 *                           into an HDR histogram (hdr-histogram-js)
 *
 * This process only orchestrates (it sleeps while a window is measured). Per point: start an
 * exchange at the point's rate, subscribe, start an engine, wait until every instrument is
 * LIVE, warm up, open the window, measure, stall the exchange (no more frames), wait until
 * every frame sent has come out as a record, then stop the engine (SIGTERM, exit code 0).
 * Engine CPU time per frame and peak RSS come from /proc/<pid>; the CPU share of every process
 * from /proc as well. Results: bench/results/e2e-<date>.json and e2e-latest.json (full run),
 * bench/results/tmp/e2e-ci.json (--ci); docs and charts by bench/render-e2e.ts.
 *
 * Exit code: 0 when the run completed and every correctness check held (targets are reported
 * PASS/MISS, never fail the run); 1 on a harness failure or a correctness failure: a record
 * lost (at a rate that must be lossless) or out of order, a RESYNCING record or an
 * E_CHECKSUM_MISMATCH in the engine log, a final checksum that differs from the exchange's,
 * a worker restart, an engine that does not stop cleanly, or the time bound exceeded.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { verifyRecording, type SymbolVerification } from './e2e-verify.js';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { environment, type Environment } from './harness.js';
import {
  IpcClient,
  deleteNamespaceStreams,
  findPidByComm,
  machineCpu,
  monoUs,
  procCpuUs,
  procMemory,
  procThreads,
  sleep,
  type LatencySummary,
} from './e2e-common.js';
import { repoRoot } from './render.js';
import { writeE2eDocs } from './render-e2e.js';

// ------------------------------------------------------------------ configuration

const argv = process.argv.slice(2);
const CI = argv.includes('--ci');
const flag = (name: string) => argv.includes(`--${name}`);
const env = (name: string, dflt: string) => {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : v;
};
const num = (name: string, dflt: number) => {
  const n = Number(env(name, String(dflt)));
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0`);
  return n;
};
const list = (name: string, dflt: string) =>
  (process.env[name] ?? dflt)
    .split(',')
    .map((x) => Number(x.trim()))
    .filter((x) => x > 0);

const CORES = environment().cores;
export const e2eConfig = {
  mode: CI ? 'ci' : 'full',
  natsUrl: env('NATS_URL', 'nats://127.0.0.1:4222'),
  /** Instruments of the rate sweep. */
  symbols: num('E2E_SYMBOLS', 50),
  /** Offered frame rates of the sweep, frames/s over all instruments. */
  rates: list('E2E_RATES', CI ? '2000,10000' : '1000,2000,5000,10000,20000,50000,100000'),
  /** Rates up to this one must be lossless: a lost record there fails the run. */
  losslessUpTo: num('E2E_LOSSLESS_UP_TO', 10_000),
  workers: num('E2E_WORKERS', Math.max(1, CORES - 1)),
  depth: num('E2E_DEPTH', 10),
  warmupS: num('E2E_WARMUP_S', CI ? 2 : 3),
  windowS: num('E2E_WINDOW_S', CI ? 8 : 10),
  /** Exchange tick period (ms): frames are generated and written in bursts of rate × tick. */
  tickMs: num('E2E_TICK_MS', 1),
  restamp: env('E2E_RESTAMP', '1') !== '0',
  /** Spread the markets' emissions over the ticks (see bench/e2e-exchange.ts "Phases"). */
  rephase: env('E2E_REPHASE', '1') !== '0',
  seed: num('E2E_SEED', 20261126),
  /** p99 bound of the "highest rate" search (µs) and the number of bisection steps. */
  p99BoundUs: num('E2E_P99_BOUND_US', 1000),
  searchSteps: num('E2E_SEARCH_STEPS', CI ? 0 : 3),
  /** Bisection steps for the highest lossless rate. */
  losslessSearchSteps: num('E2E_LOSSLESS_SEARCH_STEPS', CI ? 0 : 2),
  /** Extra points of the full run. */
  burstPoint: !CI && env('E2E_BURST', '1') !== '0',
  /** Rates at which the "null engine" (bench/e2e-relay.ts) measures the topology's floor. */
  floorRates: list('E2E_FLOOR_RATES', CI ? '' : '2000,20000'),
  profilePoint: !CI && env('E2E_PROFILE', '1') !== '0',
  rssPoint: !CI && env('E2E_RSS', '1') !== '0',
  rssSymbols: num('E2E_RSS_SYMBOLS', 700),
  rssDepth: num('E2E_RSS_DEPTH', 100),
  rssRate: num('E2E_RSS_RATE', 7000),
  /** Engine build: compiled dist/ through bin/aether-risk.js (default), or the sources through tsx. */
  engine: env('E2E_ENGINE', 'dist') as 'dist' | 'tsx',
  /** Before each point, wait up to this long for other processes to use < 25 % of the machine. */
  quietWaitS: num('E2E_QUIET_WAIT_S', CI ? 3 : 15),
  /** Record what the exchange sends (for mismatch attribution; /dev/shm when it exists). */
  record: env('E2E_RECORD', '1') !== '0',
  /** The whole run stops by itself after this long (harness failure). */
  deadlineS: num('E2E_DEADLINE_S', CI ? 150 : 540),
  write: !flag('no-write'),
  /** Regenerate the end-to-end section of docs/benchmarks.md and its charts (full runs). */
  docs: !CI && !flag('no-docs'),
};

export const E2E_TARGETS = {
  p50AtRateUs: 150,
  p99AtRateUs: 1000,
  targetRate: 20_000,
  targetSymbols: 50,
  sustainedRate: 100_000,
  rssBytes: 300 * 1024 * 1024,
};

const ROOT = repoRoot();
const TMP = join(ROOT, 'bench', 'results', 'tmp');
const log = (msg: string) => process.stderr.write(`[bench:e2e] ${msg}\n`);

class HarnessFailure extends Error {}

// ------------------------------------------------------------------ child processes

const children = new Set<ChildProcess>();
function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}
function killAll(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}
process.on('exit', killAll);

function forkTs(file: string, name: string): IpcClient {
  const child = track(
    fork(join(ROOT, 'bench', file), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, NODE_OPTIONS: '' },
    }),
  );
  return new IpcClient(name, child);
}

// ------------------------------------------------------------------ the engine build

/** Newest mtime of the .ts sources that go into dist/ vs dist/engine/cli.js: rebuild when stale. */
function ensureBuilt(): { rebuilt: boolean } {
  const cli = join(ROOT, 'dist', 'engine', 'cli.js');
  let newest = statSync(join(ROOT, 'index.ts')).mtimeMs;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of ['engine', 'actors', 'adapters']) walk(join(ROOT, d));
  if (existsSync(cli) && statSync(cli).mtimeMs >= newest) return { rebuilt: false };
  log('dist/ is missing or older than the sources: building (tsc -p tsconfig.build.json)');
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(cli)) throw new HarnessFailure(`the engine build failed (tsc exit ${r.status}); fix it or run with E2E_ENGINE=tsx`);
  return { rebuilt: true };
}

interface EngineProc {
  child: ChildProcess;
  pid: number;
  logFile: string;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

function startEngine(p: PointSpec, url: string, symbols: readonly string[], namespace: string, profileDir: string | null): EngineProc {
  const cleanEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AETHER_') && k !== 'NODE_OPTIONS' && k !== 'NATS_URL') cleanEnv[k] = v;
  const childEnv: NodeJS.ProcessEnv = {
    ...cleanEnv,
    AETHER_ENV: 'development',
    AETHER_KRAKEN_URL: url,
    AETHER_SYMBOLS: symbols.join(','),
    AETHER_WORKERS: String(p.workers),
    AETHER_BOOK_DEPTH: String(p.depth),
    NATS_URL: e2eConfig.natsUrl,
    AETHER_NATS_NAMESPACE: namespace,
    AETHER_RISK_MAX_RATE_HZ: '0',
    AETHER_LOG_LEVEL: 'warn',
    AETHER_LOG_SUMMARY_MS: '0',
    // The exchange is stalled to drain the pipeline at the end of a window: no reconnect then.
    AETHER_HEARTBEAT_TIMEOUT_MS: '60000',
    AETHER_QUIET_AFTER_MS: '3600000',
    NODE_OPTIONS: '',
  };
  // --cpu-prof is refused in NODE_OPTIONS: it goes on the command line (worker threads inherit it)
  const prof = profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const args =
    p.subject === 'relay'
      ? ['--import', 'tsx', join(ROOT, 'bench', 'e2e-relay.ts'), JSON.stringify({ url, symbols, depth: p.depth, natsUrl: e2eConfig.natsUrl, namespace })]
      : e2eConfig.engine === 'dist'
        ? [...prof, join(ROOT, 'bin', 'aether-risk.js'), 'start']
        : [...prof, '--import', 'tsx', '-e', `import(${JSON.stringify(join(ROOT, 'engine', 'cli.ts'))}).then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; })`, 'start'];
  const logFile = join(TMP, `e2e-engine-${p.id}.log`);
  const out = createWriteStream(logFile);
  const child = track(spawn(process.execPath, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    // 'close', not 'exit': the log pipes are drained by then; resolve once the log is on disk
    child.once('close', (code, signal) => out.end(() => resolve({ code, signal }))),
  );
  if (child.pid === undefined) throw new HarnessFailure(`could not start the ${p.subject} process`);
  return { child, pid: child.pid, logFile, exit };
}

/** The end of a child's log, for a failure message that explains itself in a CI log. */
function logTail(file: string): string {
  try {
    const t = readFileSync(file, 'utf8');
    return t.length > 1500 ? `…${t.slice(-1500)}` : t;
  } catch {
    return '(no log)';
  }
}

interface LogProblems {
  checksumMismatches: { symbol: string; expected: number }[];
  errors: number;
  firstError: string | null;
}

function engineLogProblems(file: string): LogProblems {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { checksumMismatches: [], errors: 0, firstError: null };
  }
  const checksumMismatches: LogProblems['checksumMismatches'] = [];
  let errors = 0;
  let firstError: string | null = null;
  for (const line of text.split('\n')) {
    if (line.includes('E_CHECKSUM_MISMATCH')) {
      try {
        const j = JSON.parse(line) as { symbol?: string; expected?: number };
        checksumMismatches.push({ symbol: j.symbol ?? '?', expected: j.expected ?? -1 });
      } catch {
        checksumMismatches.push({ symbol: '?', expected: -1 });
      }
    }
    if (/"level":(50|60)/.test(line)) {
      errors++;
      firstError ??= line.slice(0, 400);
    }
  }
  return { checksumMismatches, errors, firstError };
}

// ------------------------------------------------------------------ points

export interface PointSpec {
  id: string;
  kind: 'sweep' | 'search' | 'burst' | 'profile' | 'rss' | 'floor';
  /** What sits between the exchange and NATS: the engine, or the null engine (bench/e2e-relay.ts). */
  subject: 'engine' | 'relay';
  label: string;
  symbols: number;
  /** Offered frames/s over all instruments. */
  rate: number;
  depth: number;
  workers: number;
  tickMs: number;
  warmupS: number;
  windowS: number;
  mustBeLossless: boolean;
  profile: boolean;
}

interface InconsistentSummary {
  n: number;
  type: string;
  wireChecksum: number;
  referenceChecksum: number;
  text: string;
}

interface CpuSnap {
  at: number;
  engine: number | null;
  exchange: number | null;
  subscriber: number | null;
  nats: number | null;
  machine: ReturnType<typeof machineCpu>;
}

export interface ProfileSummary {
  thread: string;
  samples: number;
  ms: number;
  top: { fn: string; where: string; selfPct: number }[];
  byFile: { file: string; selfPct: number }[];
}

export interface PointResult extends PointSpec {
  namespace: string;
  ok: boolean;
  problems: string[];
  /** Frames the exchange sent in the window and the rate they make. */
  windowSeconds: number;
  framesInWindow: number;
  achievedRate: number;
  /** Whole run of the point: frames sent (snapshots included) vs LIVE records received. */
  framesSent: number;
  liveRecords: number;
  /** LIVE records repeating their symbol's previous book event (periodic analytics, quiet flag): not frames' records, not timed. */
  republishedRecords: number;
  recordsInWindow: number;
  lossless: boolean;
  /** Symbols whose LIVE records fell short of the frames sent (excluding simulator faults). */
  shortSymbols: Record<string, { sent: number; live: number }>;
  drainedMs: number | null;
  drainComplete: boolean;
  /** Other processes' CPU (cores) over the second before the point started, after waiting for quiet. */
  othersBefore: number | null;
  quietWaitMs: number;
  latencyUs: LatencySummary;
  /**
   * The path split at the engine's receive time, each half relative to its own fastest value
   * (the engine's clock anchor is unknown to ~±1 ms): where the time above the minimum goes.
   */
  splitAboveMinUs: { exchangeToEngine: Omit<LatencySummary, 'hdr'> | null; engineToSubscriber: Omit<LatencySummary, 'hdr'> | null } | null;
  exchange: {
    framesSkippedSlowClient: number;
    slowClientResyncs: number;
    /** Generation → socket write delay the send-time stamps removed (µs), when restamped. */
    generationToWriteUs: LatencySummary | null;
    meanFramesPerWrite: number | null;
    maxFramesPerWrite: number | null;
  };
  engine: {
    pid: number;
    cpuUsPerFrame: number | null;
    /** Share of one core over the window. */
    cpuCores: number | null;
    peakRssBytes: number | null;
    rssBytes: number | null;
    threads: number | null;
    exitCode: number | null;
    startupMs: number;
  };
  /** CPU used over the window, in cores (1.0 = one core busy), per process and for the machine. */
  cpu: { engine: number | null; exchange: number | null; subscriber: number | null; nats: number | null; machineBusy: number | null; steal: number | null; others: number | null };
  checks: {
    outOfOrder: number;
    lost: number;
    epochChanges: number;
    resyncing: number;
    nonLiveInWindow: number;
    missingChecksum: number;
    checksumMismatchesInLog: number;
    /** Mismatches the reference replay traced to a frame the exchange sent inconsistently. */
    simulatorFaults: { symbol: string; frames: InconsistentSummary[] }[];
    /** Mismatches not explained by the exchange's frames: engine faults (fatal). */
    engineChecksumFaults: string[];
    engineErrorsInLog: number;
    finalChecksumsCompared: number;
    finalChecksumMismatches: number;
    negativeLatency: number;
    slowConsumer: number;
  };
  profiles: ProfileSummary[];
}

let exchange: IpcClient;
let subscriber: IpcClient;
let natsPid: number | null = null;
let runId = '';

function cpuSnap(enginePid: number): CpuSnap {
  return {
    at: monoUs(),
    engine: procCpuUs(enginePid),
    exchange: exchange.child.pid === undefined ? null : procCpuUs(exchange.child.pid),
    subscriber: subscriber.child.pid === undefined ? null : procCpuUs(subscriber.child.pid),
    nats: natsPid === null ? null : procCpuUs(natsPid),
    machine: machineCpu(),
  };
}

function coresUsed(a: number | null, b: number | null, us: number): number | null {
  return a === null || b === null ? null : Math.round(((b - a) / us) * 1000) / 1000;
}

interface SubReport {
  counters: Record<string, number>;
  health: Record<string, number>;
  symbols: number;
  liveSymbols: number;
  lastChecksum: Record<string, number>;
  liveBySymbol: Record<string, number>;
  resyncingBySymbol: Record<string, number>;
  nonLiveInWindowBySymbol: Record<string, number>;
  latencyUs: LatencySummary;
  split: PointResult['splitAboveMinUs'];
  firstProblem: string | null;
}

interface StallReply {
  stats: { bookMessagesSent: number; framesSkippedSlowClient: number; slowClientResyncs: number };
  hook: { writes: number; frames: number; maxFramesPerWrite: number };
  generationToWriteUs: LatencySummary | null;
  lastChecksum: Record<string, number>;
  framesBySymbol: Record<string, number>;
  recordedBytes: number;
}

/** Other processes' CPU (cores) over `ms`, from /proc/stat minus our children's own CPU. */
async function othersBusy(ms: number): Promise<number | null> {
  const pids = [...children].map((c) => c.pid).filter((x): x is number => x !== undefined);
  const own = () => pids.reduce((a, pid) => a + (procCpuUs(pid) ?? 0), 0) + (() => {
    const u = process.cpuUsage();
    return u.user + u.system;
  })();
  const m0 = machineCpu();
  const o0 = own();
  const t0 = monoUs();
  await sleep(ms);
  const m1 = machineCpu();
  const o1 = own();
  if (m0 === null || m1 === null) return null;
  const us = monoUs() - t0;
  return Math.max(0, Math.round(((m1.busyUs - m0.busyUs + m1.stealUs - m0.stealUs - (o1 - o0)) / us) * 1000) / 1000);
}

/** Wait (bounded) until other processes use less than a quarter of the machine. */
async function waitForQuiet(maxS: number): Promise<{ waitedMs: number; others: number | null }> {
  const t0 = Date.now();
  for (;;) {
    const o = await othersBusy(1000);
    if (o === null || o < 0.25 * CORES || Date.now() - t0 >= maxS * 1000) return { waitedMs: Date.now() - t0, others: o };
  }
}

async function runPoint(p: PointSpec): Promise<PointResult> {
  const namespace = `bench.${runId}.${p.id}`;
  const problems: string[] = [];
  const profileDir = p.profile ? join(TMP, `cpuprof-${p.id}`) : null;
  if (profileDir !== null) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  const recordFile = e2eConfig.record ? join(existsSync('/dev/shm') ? '/dev/shm' : TMP, `aether-bench-${runId}-${p.id}.ws`) : null;
  const quiet = await waitForQuiet(p.rate <= 0 ? 0 : e2eConfig.quietWaitS);
  log(
    `${p.id}: ${p.subject === 'relay' ? 'NULL ENGINE (relay), ' : ''}${p.symbols} instruments, ${p.rate.toLocaleString('en-US')} frames/s, depth ${p.depth}, ${p.workers} worker(s), tick ${p.tickMs} ms` +
      `; other processes ${quiet.others === null ? 'n/a' : `${quiet.others.toFixed(2)} cores`}${quiet.waitedMs > 1500 ? ` after waiting ${(quiet.waitedMs / 1000).toFixed(0)} s` : ''}`,
  );
  const started = await exchange.request<{ url: string; epochOffsetUs: number; symbols: string[] }>('start', {
    symbols: p.symbols,
    ratePerSymbol: p.rate / p.symbols,
    seed: e2eConfig.seed,
    tickMs: p.tickMs,
    restamp: e2eConfig.restamp,
    record: recordFile,
  });
  await subscriber.request('subscribe', { namespace, simOffsetUs: started.epochOffsetUs });
  const t0 = monoUs();
  const engine = startEngine(p, started.url, started.symbols, namespace, profileDir);
  let exited = false;
  void engine.exit.then(() => {
    exited = true;
  });
  let result: PointResult | null = null;
  try {
    // every instrument LIVE
    for (;;) {
      const r = await subscriber.request<{ liveSymbols: number }>('progress');
      if (r.liveSymbols >= p.symbols) break;
      if (exited) throw new HarnessFailure(`${p.id}: the ${p.subject} exited during start-up (log: ${relative(ROOT, engine.logFile)}):\n${logTail(engine.logFile)}`);
      if (monoUs() - t0 > 60e6) throw new HarnessFailure(`${p.id}: only ${r.liveSymbols}/${p.symbols} instruments LIVE after 60 s (log: ${relative(ROOT, engine.logFile)}):\n${logTail(engine.logFile)}`);
      await sleep(100);
    }
    const startupMs = Math.round((monoUs() - t0) / 1000);
    if (e2eConfig.rephase) await exchange.request('rephase', { seed: e2eConfig.seed });
    await sleep(p.warmupS * 1000);

    // the window
    await subscriber.request('window', { open: true });
    const s0 = await exchange.request<{ stats: { bookMessagesSent: number } }>('stats', { resetWindow: true });
    const c0 = cpuSnap(engine.pid);
    await sleep(p.windowS * 1000);
    const c1 = cpuSnap(engine.pid);
    const s1 = await exchange.request<StallReply>('stall', { ms: 120_000 });
    const windowUs = c1.at - c0.at;
    const framesInWindow = s1.stats.bookMessagesSent - s0.stats.bookMessagesSent;

    // drain: wait until every frame sent has come out as a LIVE record, or nothing moves for 1 s
    const d0 = monoUs();
    let drainedMs: number | null = null;
    let drainComplete = false;
    let last = -1;
    let lastChange = monoUs();
    for (;;) {
      const r = await subscriber.request<{ live: number }>('progress');
      if (r.live >= s1.stats.bookMessagesSent) {
        drainComplete = true;
        break;
      }
      if (r.live !== last) {
        last = r.live;
        lastChange = monoUs();
      } else if (monoUs() - lastChange > 1e6) break;
      if (monoUs() - d0 > 30e6 || exited) break;
      await sleep(50);
    }
    drainedMs = Math.round((monoUs() - d0) / 1000);
    await sleep(200); // anything beyond the count would be a duplicate: give it a moment to show
    const sub = await subscriber.request<SubReport>('window', { open: false });
    const mem = procMemory(engine.pid);
    const threads = procThreads(engine.pid);

    // stop the engine: SIGTERM, clean exit within its 10 s deadline
    engine.child.kill('SIGTERM');
    const exit = await Promise.race([engine.exit, sleep(15_000).then(() => null)]);
    if (exit === null) {
      problems.push(`${p.subject} did not exit within 15 s of SIGTERM`);
      engine.child.kill('SIGKILL');
    } else if (exit.code !== 0) problems.push(`${p.subject} exited with code ${exit.code} signal ${exit.signal}`);

    // checksum mismatches: engine fault, or a frame the exchange sent inconsistently?
    const logp = engineLogProblems(engine.logFile);
    const mismatchSymbols = new Set([...Object.keys(sub.resyncingBySymbol), ...logp.checksumMismatches.map((m) => m.symbol)]);
    const simulatorFaults: PointResult['checks']['simulatorFaults'] = [];
    const engineChecksumFaults: string[] = [];
    if (mismatchSymbols.size > 0) {
      let verified: SymbolVerification[] = [];
      if (recordFile !== null && existsSync(recordFile)) {
        log(`${p.id}: checksum mismatch for ${[...mismatchSymbols].join(', ')}: replaying the exchange's frames through the reference book`);
        verified = verifyRecording(recordFile, [...mismatchSymbols], p.depth);
      }
      for (const sym of mismatchSymbols) {
        const v = verified.find((x) => x.symbol === sym);
        const expected = logp.checksumMismatches.filter((m) => m.symbol === sym).map((m) => m.expected);
        const explained = v !== undefined && v.inconsistentCount > 0 && expected.every((e) => v.inconsistent.some((f) => f.wireChecksum === e));
        if (explained) simulatorFaults.push({ symbol: sym, frames: v.inconsistent });
        else engineChecksumFaults.push(`${sym}${v === undefined ? ' (no recording to check against)' : `: the exchange's ${v.frames} frames are consistent (reference book), expected checksum(s) ${expected.join(', ')}`}`);
      }
    }
    const faulty = new Set(simulatorFaults.map((f) => f.symbol));

    // loss, per symbol (a symbol with a simulator fault lost frames while it resynced: excluded)
    const counters = sub.counters;
    const live = counters.live!;
    const lost = counters.lost!;
    const shortSymbols: PointResult['shortSymbols'] = {};
    for (const [sym, sent] of Object.entries(s1.framesBySymbol)) {
      if (faulty.has(sym)) continue;
      const got = sub.liveBySymbol[sym] ?? 0;
      if (got !== sent) shortSymbols[sym] = { sent, live: got };
    }
    const lossless = Object.keys(shortSymbols).length === 0 && lost === 0 && s1.stats.framesSkippedSlowClient === 0 && Object.keys(s1.framesBySymbol).length > 0;
    let compared = 0;
    let mismatched = 0;
    if (drainComplete || Object.keys(shortSymbols).length === 0) {
      for (const [sym, ck] of Object.entries(s1.lastChecksum)) {
        compared++;
        if (sub.lastChecksum[sym] !== ck) {
          mismatched++;
          if (mismatched <= 3) problems.push(`${sym}: last checksum received ${sub.lastChecksum[sym]}, exchange sent ${ck}`);
        }
      }
    }
    const nonLive = Object.entries(sub.nonLiveInWindowBySymbol).filter(([sym]) => !faulty.has(sym));
    const checks: PointResult['checks'] = {
      outOfOrder: counters.outOfOrder!,
      lost,
      epochChanges: counters.epochChanges!,
      resyncing: counters.resyncing!,
      nonLiveInWindow: counters.nonLiveInWindow!,
      missingChecksum: counters.missingChecksum!,
      checksumMismatchesInLog: logp.checksumMismatches.length,
      simulatorFaults,
      engineChecksumFaults,
      engineErrorsInLog: logp.errors,
      finalChecksumsCompared: compared,
      finalChecksumMismatches: mismatched,
      negativeLatency: counters.negativeLatency!,
      slowConsumer: counters.slowConsumer!,
    };
    // correctness: always fatal
    if (checks.outOfOrder > 0) problems.push(`${checks.outOfOrder} risk record(s) out of order`);
    if (checks.epochChanges > 0) problems.push(`${checks.epochChanges} epoch change(s): an actor restarted`);
    if (engineChecksumFaults.length > 0) problems.push(`checksum mismatch in the engine not explained by the exchange's frames: ${engineChecksumFaults.join('; ')}`);
    if (checks.missingChecksum > 0) problems.push(`${checks.missingChecksum} LIVE record(s) without a checksum`);
    if (nonLive.length > 0) problems.push(`record(s) not LIVE after warm-up: ${nonLive.map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    if (checks.engineErrorsInLog > 0) problems.push(`${checks.engineErrorsInLog} error line(s) in the ${p.subject} log, first: ${logp.firstError}`);
    if (counters.decodeErrors! > 0) problems.push(`${counters.decodeErrors} undecodable record(s)`);
    if (live > s1.stats.bookMessagesSent) problems.push(`${live - s1.stats.bookMessagesSent} more LIVE records than book frames sent (duplicates)`);
    if (simulatorFaults.length > 0) log(`${p.id}: simulator fault (not an engine failure): ${simulatorFaults.map((f) => `${f.symbol} frame #${f.frames[0]?.n} wire checksum ${f.frames[0]?.wireChecksum}, reference ${f.frames[0]?.referenceChecksum}`).join('; ')}`);
    // loss: fatal where the rate must be lossless
    if (!lossless && p.mustBeLossless) {
      const short = Object.entries(shortSymbols);
      problems.push(
        `not lossless: ${s1.stats.bookMessagesSent} book frames sent, ${live} LIVE records received, ${lost} seq gap(s), ${s1.stats.framesSkippedSlowClient} frames skipped by the exchange (slow client)` +
          (short.length === 0 ? '' : `, short: ${short.slice(0, 5).map(([k, v]) => `${k} ${v.live}/${v.sent}`).join(', ')}`) +
          (sub.firstProblem === null ? '' : `; first problem: ${sub.firstProblem}`),
      );
    }
    const profiles = profileDir === null ? [] : summarizeProfiles(profileDir);
    const us = windowUs;
    const m0 = c0.machine;
    const m1 = c1.machine;
    const machineBusy = m0 === null || m1 === null ? null : Math.round(((m1.busyUs - m0.busyUs) / us) * 1000) / 1000;
    const steal = m0 === null || m1 === null ? null : Math.round(((m1.stealUs - m0.stealUs) / us) * 1000) / 1000;
    const cpu = {
      engine: coresUsed(c0.engine, c1.engine, us),
      exchange: coresUsed(c0.exchange, c1.exchange, us),
      subscriber: coresUsed(c0.subscriber, c1.subscriber, us),
      nats: coresUsed(c0.nats, c1.nats, us),
      machineBusy,
      steal,
      others: null as number | null,
    };
    if (machineBusy !== null) {
      const ours = (cpu.engine ?? 0) + (cpu.exchange ?? 0) + (cpu.subscriber ?? 0) + (cpu.nats ?? 0);
      cpu.others = Math.max(0, Math.round((machineBusy - ours) * 1000) / 1000);
    }
    const hook = s1.hook;
    result = {
      ...p,
      namespace,
      ok: problems.length === 0,
      problems,
      windowSeconds: Math.round(windowUs / 1e4) / 100,
      framesInWindow,
      achievedRate: Math.round(framesInWindow / (windowUs / 1e6)),
      framesSent: s1.stats.bookMessagesSent,
      liveRecords: live,
      republishedRecords: counters.republished ?? 0,
      recordsInWindow: counters.windowRecords!,
      lossless,
      shortSymbols,
      drainedMs,
      drainComplete,
      othersBefore: quiet.others,
      quietWaitMs: quiet.waitedMs,
      latencyUs: sub.latencyUs,
      splitAboveMinUs: sub.split ?? null,
      exchange: {
        framesSkippedSlowClient: s1.stats.framesSkippedSlowClient,
        slowClientResyncs: s1.stats.slowClientResyncs,
        generationToWriteUs: s1.generationToWriteUs,
        meanFramesPerWrite: hook.writes > 0 ? Math.round((hook.frames / hook.writes) * 10) / 10 : null,
        maxFramesPerWrite: hook.writes > 0 ? hook.maxFramesPerWrite : null,
      },
      engine: {
        pid: engine.pid,
        cpuUsPerFrame: c0.engine === null || c1.engine === null || framesInWindow === 0 ? null : Math.round(((c1.engine - c0.engine) / framesInWindow) * 100) / 100,
        cpuCores: cpu.engine,
        peakRssBytes: mem?.peakRss ?? null,
        rssBytes: mem?.rss ?? null,
        threads,
        exitCode: exit?.code ?? null,
        startupMs,
      },
      cpu,
      checks,
      profiles,
    };
  } finally {
    if (!exited) {
      engine.child.kill('SIGKILL');
      await engine.exit;
    }
    await subscriber.request('unsubscribe').catch(() => undefined);
    await exchange.request('stop').catch(() => undefined);
    if (recordFile !== null) rmSync(recordFile, { force: true });
    await deleteNamespaceStreams(e2eConfig.natsUrl, namespace).catch(() => undefined);
  }
  const r = result;
  const l = r.latencyUs;
  log(
    `${p.id}: ${r.achievedRate.toLocaleString('en-US')} frames/s achieved, latency µs min ${l.min} p50 ${l.p50} p90 ${l.p90} p99 ${l.p99} p99.9 ${l.p999} max ${l.max} (n=${l.count}); ` +
      `${p.subject} ${r.engine.cpuUsPerFrame} µs CPU/frame, ${r.cpu.engine} cores, peak RSS ${mib(r.engine.peakRssBytes)}; ` +
      `exchange ${r.cpu.exchange} / NATS ${r.cpu.nats} / subscriber ${r.cpu.subscriber} / others ${r.cpu.others} cores; ` +
      (r.splitAboveMinUs?.exchangeToEngine == null ? '' : `above-min p50/p99: exchange→engine ${r.splitAboveMinUs.exchangeToEngine.p50}/${r.splitAboveMinUs.exchangeToEngine.p99}, engine→subscriber ${r.splitAboveMinUs.engineToSubscriber?.p50}/${r.splitAboveMinUs.engineToSubscriber?.p99} µs; `) +
      `${r.lossless ? 'lossless' : 'NOT lossless'}${r.ok ? '' : `; PROBLEMS: ${r.problems.join('; ')}`}`,
  );
  return r;
}

const mib = (b: number | null) => (b === null ? 'n/a' : `${(b / 2 ** 20).toFixed(1)} MiB`);

// ------------------------------------------------------------------ engine CPU profile (node --cpu-prof)

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 14);
  if (u.startsWith(ROOT)) u = u.slice(ROOT.length + 1);
  return u;
}

function fileGroup(file: string): string {
  if (file.startsWith('node:') || file.startsWith('(')) return file.replace(/:\d+$/, '');
  if (/^(dist\/)?(actors|adapters|engine|bench)\//.test(file)) return file.replace(/:\d+$/, '');
  const parts = file.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Self time per function and per file, for every thread's profile that did real work. */
export function summarizeProfiles(dir: string): ProfileSummary[] {
  const out: ProfileSummary[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
    const prof = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
    const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
    const self = new Map<string, { fn: string; where: string; us: number }>();
    const files = new Map<string, number>();
    let total = 0;
    const samples = prof.samples ?? [];
    const deltas = prof.timeDeltas ?? [];
    for (let k = 0; k < samples.length; k++) {
      const n = nodes.get(samples[k]!);
      if (n === undefined) continue;
      const cf = n.callFrame;
      if (cf.functionName === '(idle)') continue;
      const dt = deltas[k + 1] ?? deltas[k] ?? 0;
      total += dt;
      const file = shortUrl(cf.url);
      const fn = cf.functionName === '' ? '(anonymous)' : cf.functionName;
      const where = cf.url === '' ? '(native)' : `${file}:${cf.lineNumber + 1}`;
      const key = `${fn}\u0000${where}`;
      const e = self.get(key) ?? { fn, where, us: 0 };
      e.us += dt;
      self.set(key, e);
      const g = cf.url === '' ? fn : fileGroup(file);
      files.set(g, (files.get(g) ?? 0) + dt);
    }
    if (total < 200_000) continue; // a thread that did almost nothing (< 0.2 s busy)
    const pct = (us: number) => Math.round((1000 * us) / total) / 10;
    // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile: thread id 0 is the main thread
    const tid = f.split('.')[4];
    out.push({
      thread: tid === '0' ? 'main thread' : `worker thread (tid ${tid})`,
      samples: samples.length,
      ms: Math.round(total / 1000),
      top: [...self.values()]
        .sort((a, b) => b.us - a.us)
        .slice(0, 16)
        .map((e) => ({ fn: e.fn, where: e.where, selfPct: pct(e.us) })),
      byFile: [...files.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 14)
        .map(([file, us]) => ({ file, selfPct: pct(us) })),
    });
  }
  return out;
}

// ------------------------------------------------------------------ targets

export interface E2eTarget {
  id: string;
  text: string;
  measured: number | null;
  target: number;
  unit: 'µs' | 'frames/s' | 'bytes';
  better: 'lower' | 'higher';
  pass: boolean;
  missBy: number | null;
  point: string | null;
}

/** Targets and the two searched rates, from the points (also used to re-evaluate a stored run). */
export function evaluate(points: PointResult[], cfg: { p99BoundUs: number } = e2eConfig): { targets: E2eTarget[]; highestUnderBound: { rate: number | null; achieved: number | null; point: string | null; belowAll: boolean; aboveAll: boolean }; highestLossless: { rate: number | null; point: string | null } } {
  const T = E2E_TARGETS;
  const add = (id: string, text: string, measured: number | null, target: number, unit: E2eTarget['unit'], better: 'lower' | 'higher', point: string | null): E2eTarget => {
    const pass = measured !== null && (better === 'lower' ? measured <= target : measured >= target);
    const missBy = measured === null ? null : better === 'lower' ? measured / target - 1 : 1 - measured / target;
    return { id, text, measured, target, unit, better, pass, missBy, point };
  };
  const at = points.find((p) => (p.kind === 'sweep' || p.kind === 'profile') && p.rate === T.targetRate && p.symbols === T.targetSymbols && !p.profile) ?? points.find((p) => p.rate === T.targetRate && p.symbols === T.targetSymbols);
  const lat = [...points].filter((p) => p.kind === 'sweep' || p.kind === 'search').sort((a, b) => a.rate - b.rate);
  const under = lat.filter((p) => p.lossless && p.latencyUs.p99 <= cfg.p99BoundUs);
  const over = lat.filter((p) => !(p.lossless && p.latencyUs.p99 <= cfg.p99BoundUs));
  const best = under.length === 0 ? null : under.reduce((a, b) => (b.rate > a.rate ? b : a));
  // the engine's own points only: not the null engine, not the 700-instrument RSS point
  const losslessPts = points.filter((p) => p.subject !== 'relay' && p.kind !== 'rss' && p.lossless && p.achievedRate >= 0.95 * p.rate);
  const bestLossless = losslessPts.length === 0 ? null : losslessPts.reduce((a, b) => (b.achievedRate > a.achievedRate ? b : a));
  const sustained = points.find((p) => p.kind === 'sweep' && p.rate === T.sustainedRate);
  const rss = points.find((p) => p.kind === 'rss');
  const targets: E2eTarget[] = [];
  if (at !== undefined) {
    targets.push(add('e2e-p50', `end to end p50 at ${T.targetRate.toLocaleString('en-US')} frames/s, ${T.targetSymbols} instruments`, at.latencyUs.p50, T.p50AtRateUs, 'µs', 'lower', at.id));
    targets.push(add('e2e-p99', `end to end p99 at ${T.targetRate.toLocaleString('en-US')} frames/s, ${T.targetSymbols} instruments`, at.latencyUs.p99, T.p99AtRateUs, 'µs', 'lower', at.id));
  }
  if (sustained !== undefined) {
    const ok = sustained.lossless && sustained.achievedRate >= 0.95 * sustained.rate;
    targets.push({
      ...add('e2e-sustained', `sustained frames/s without loss (offered ${T.sustainedRate.toLocaleString('en-US')})`, sustained.lossless ? sustained.achievedRate : (bestLossless?.achievedRate ?? 0), T.sustainedRate, 'frames/s', 'higher', sustained.lossless ? sustained.id : (bestLossless?.id ?? null)),
      pass: ok,
    });
  }
  if (rss !== undefined) targets.push(add('engine-rss', `engine peak RSS, ${rss.symbols} instruments at depth ${rss.depth}`, rss.engine.peakRssBytes, T.rssBytes, 'bytes', 'lower', rss.id));
  return {
    targets,
    highestUnderBound: { rate: best?.rate ?? null, achieved: best?.achievedRate ?? null, point: best?.id ?? null, belowAll: best === null, aboveAll: best !== null && over.every((p) => p.rate < best.rate) },
    highestLossless: { rate: bestLossless?.achievedRate ?? null, point: bestLossless?.id ?? null },
  };
}

// ------------------------------------------------------------------ main

export interface E2eResults {
  schema: 'aether-bench-e2e/1';
  env: Environment & { natsServer: string | null; engine: string; clockNote: string };
  config: typeof e2eConfig;
  targets: E2eTarget[];
  highestRateUnderP99Bound: ReturnType<typeof evaluate>['highestUnderBound'];
  highestLosslessRate: ReturnType<typeof evaluate>['highestLossless'];
  points: PointResult[];
  failures: string[];
  totalSeconds: number;
}

function natsVersion(): string | null {
  try {
    const r = spawnSync('/usr/sbin/nats-server', ['--version'], { encoding: 'utf8', timeout: 5000 });
    return r.stdout.trim() || null;
  } catch {
    return null;
  }
}

function spec(id: string, kind: PointSpec['kind'], rate: number, over: Partial<PointSpec> = {}): PointSpec {
  return {
    id,
    kind,
    subject: 'engine',
    label: '',
    symbols: e2eConfig.symbols,
    rate,
    depth: e2eConfig.depth,
    workers: e2eConfig.workers,
    tickMs: e2eConfig.tickMs,
    warmupS: e2eConfig.warmupS,
    windowS: e2eConfig.windowS,
    mustBeLossless: rate <= e2eConfig.losslessUpTo,
    profile: false,
    ...over,
  };
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const deadline = setTimeout(() => {
    log(`HARNESS FAILURE: the run exceeded its time bound of ${e2eConfig.deadlineS} s; stopping everything`);
    killAll();
    process.exit(1);
  }, e2eConfig.deadlineS * 1000);
  deadline.unref();
  mkdirSync(TMP, { recursive: true });
  const env0 = environment();
  runId = `${env0.date.replace(/[^0-9]/g, '').slice(0, 14)}${process.pid}`;
  if (!/^nats:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(e2eConfig.natsUrl)) throw new HarnessFailure(`NATS_URL must be a loopback address (got ${e2eConfig.natsUrl})`);
  const built = e2eConfig.engine === 'dist' ? ensureBuilt() : { rebuilt: false };
  natsPid = findPidByComm('nats-server');
  log(`${env0.cpu}, ${env0.cores} cores, Node ${env0.node}, commit ${env0.commit ?? 'n/a'}; engine ${e2eConfig.engine}${built.rebuilt ? ' (rebuilt)' : ''}; NATS ${e2eConfig.natsUrl}${natsPid === null ? ' (server pid not found: no NATS CPU figure)' : ''}`);

  exchange = forkTs('e2e-exchange.ts', 'exchange');
  subscriber = forkTs('e2e-subscriber.ts', 'subscriber');
  try {
    await subscriber.request('connect', { url: e2eConfig.natsUrl }, 15_000);
  } catch (err) {
    throw new HarnessFailure(`cannot reach NATS at ${e2eConfig.natsUrl}: ${(err as Error).message.split('\n')[0]} (start nats-server; .ci/run does)`);
  }

  const points: PointResult[] = [];
  const failures: string[] = [];
  const run = async (p: PointSpec) => {
    const r = await runPoint(p);
    points.push(r);
    if (!r.ok) failures.push(...r.problems.map((x) => `${p.id}: ${x}`));
    return r;
  };

  for (const rate of e2eConfig.rates) {
    // the target point gets a longer window in the full run: its figures are the headline
    const w = !CI && rate === E2E_TARGETS.targetRate ? e2eConfig.windowS * 2 : e2eConfig.windowS;
    await run(spec(`r${rate}`, 'sweep', rate, { label: `${rate.toLocaleString('en-US')} frames/s`, windowS: w }));
  }

  // the highest rate whose p99 stays under the bound: bisect (geometrically) between the
  // last passing and the first failing sweep rate
  const good = (r: PointResult) => r.lossless && r.latencyUs.p99 <= e2eConfig.p99BoundUs;
  for (let step = 0; step < e2eConfig.searchSteps; step++) {
    const sorted = points.filter((p) => p.kind === 'sweep' || p.kind === 'search').sort((a, b) => a.rate - b.rate);
    const lo = [...sorted].reverse().find((p) => good(p) && sorted.filter((q) => q.rate < p.rate).every(good));
    const hi = sorted.find((p) => !good(p));
    if (lo === undefined || hi === undefined || hi.rate <= lo.rate || hi.rate / lo.rate < 1.15) break;
    const rate = Math.round(Math.sqrt(lo.rate * hi.rate) / 500) * 500;
    if (rate <= lo.rate || rate >= hi.rate) break;
    await run(spec(`s${rate}`, 'search', rate, { label: `${rate.toLocaleString('en-US')} frames/s (search)`, mustBeLossless: false }));
  }
  for (const rate of e2eConfig.floorRates) {
    await run(spec(`floor${rate}`, 'floor', rate, { subject: 'relay', label: `${rate.toLocaleString('en-US')} frames/s through the null engine (bench/e2e-relay.ts)`, mustBeLossless: false }));
  }
  // the highest lossless rate: bisect between the highest lossless and the lowest lossy sweep rate
  const kept = (r: PointResult) => r.lossless && r.achievedRate >= 0.95 * r.rate;
  for (let step = 0; step < e2eConfig.losslessSearchSteps; step++) {
    const sorted = points.filter((p) => p.kind === 'sweep' || p.kind === 'search').sort((a, b) => a.rate - b.rate);
    const lo = [...sorted].reverse().find((p) => kept(p) && sorted.filter((q) => q.rate < p.rate).every(kept));
    const hi = sorted.find((p) => !kept(p));
    if (lo === undefined || hi === undefined || hi.rate <= lo.rate || hi.rate / lo.rate < 1.15) break;
    const rate = Math.round(Math.sqrt(lo.rate * hi.rate) / 1000) * 1000;
    if (rate <= lo.rate || rate >= hi.rate || sorted.some((p) => p.rate === rate)) break;
    await run(spec(`l${rate}`, 'search', rate, { label: `${rate.toLocaleString('en-US')} frames/s (lossless search)`, mustBeLossless: false }));
  }
  if (e2eConfig.burstPoint) {
    await run(spec('burst5ms', 'burst', E2E_TARGETS.targetRate, { tickMs: 5, label: `${E2E_TARGETS.targetRate.toLocaleString('en-US')} frames/s, the simulator's own 5 ms ticks`, mustBeLossless: false }));
  }
  if (e2eConfig.profilePoint) {
    await run(spec('prof20k', 'profile', E2E_TARGETS.targetRate, { profile: true, label: `${E2E_TARGETS.targetRate.toLocaleString('en-US')} frames/s under node --cpu-prof`, mustBeLossless: false }));
  }
  if (e2eConfig.rssPoint) {
    await run(
      spec('rss700', 'rss', e2eConfig.rssRate, {
        symbols: e2eConfig.rssSymbols,
        depth: e2eConfig.rssDepth,
        label: `${e2eConfig.rssSymbols} instruments at depth ${e2eConfig.rssDepth}, ${e2eConfig.rssRate.toLocaleString('en-US')} frames/s`,
        mustBeLossless: false,
        warmupS: 5,
      }),
    );
  }

  await subscriber.request('close').catch(() => undefined);
  exchange.child.disconnect();
  subscriber.child.disconnect();
  const ev = evaluate(points);
  const results: E2eResults = {
    schema: 'aether-bench-e2e/1',
    env: {
      ...env0,
      natsServer: natsVersion(),
      engine: e2eConfig.engine === 'dist' ? 'compiled dist/ via bin/aether-risk.js start' : 'sources via tsx',
      clockNote: 'latency on CLOCK_MONOTONIC across processes (exchange stamp converted with its measured epoch offset)',
    },
    config: e2eConfig,
    targets: ev.targets,
    highestRateUnderP99Bound: ev.highestUnderBound,
    highestLosslessRate: ev.highestLossless,
    points,
    failures,
    totalSeconds: Math.round((Date.now() - t0) / 100) / 10,
  };
  printSummary(results);
  if (e2eConfig.write) {
    const json = `${JSON.stringify(results, null, 1)}\n`;
    if (CI) {
      writeFileSync(join(TMP, 'e2e-ci.json'), json);
      log('wrote bench/results/tmp/e2e-ci.json');
    } else {
      const dir = join(ROOT, 'bench', 'results');
      const stamp = env0.date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
      writeFileSync(join(dir, `e2e-${stamp}.json`), json);
      writeFileSync(join(dir, 'e2e-latest.json'), json);
      log(`wrote bench/results/e2e-${stamp}.json and e2e-latest.json`);
      if (e2eConfig.docs) log(`regenerated ${writeE2eDocs(results, join(ROOT, 'docs')).join(', ')}`);
    }
  }
  clearTimeout(deadline);
  if (failures.length > 0) {
    log(`CORRECTNESS FAILURE (${failures.length}):`);
    for (const f of failures) log(`  ${f}`);
    return 1;
  }
  return 0;
}

function printSummary(r: E2eResults): void {
  const rows = r.points.map((p) => [
    p.id,
    String(p.symbols),
    p.rate.toLocaleString('en-US'),
    p.achievedRate.toLocaleString('en-US'),
    String(p.latencyUs.p50),
    String(p.latencyUs.p90),
    String(p.latencyUs.p99),
    String(p.latencyUs.p999),
    String(p.latencyUs.max),
    String(p.engine.cpuUsPerFrame ?? '–'),
    mib(p.engine.peakRssBytes),
    p.lossless ? 'yes' : 'NO',
    p.ok ? 'ok' : 'FAIL',
  ]);
  const head = ['point', 'instr', 'offered/s', 'achieved/s', 'p50 µs', 'p90', 'p99', 'p99.9', 'max', 'CPU µs/frame', 'peak RSS', 'lossless', 'checks'];
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((x) => x[k]!.length)));
  console.log(`\nend to end (exchange send → subscriber receive), ${r.config.workers} worker(s), depth ${r.config.depth}, exchange tick ${r.config.tickMs} ms:`);
  console.log(head.map((h, k) => (k === 0 ? h.padEnd(w[k]!) : h.padStart(w[k]!))).join('  '));
  for (const x of rows) console.log(x.map((c, k) => (k === 0 ? c.padEnd(w[k]!) : c.padStart(w[k]!))).join('  '));
  console.log('\ntargets:');
  for (const t of r.targets) {
    const v = t.measured === null ? 'n/a' : t.unit === 'bytes' ? mib(t.measured) : `${t.measured.toLocaleString('en-US')} ${t.unit}`;
    const goal = t.unit === 'bytes' ? mib(t.target) : `${t.target.toLocaleString('en-US')} ${t.unit}`;
    console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.text}: ${v} (target ${t.better === 'lower' ? '≤' : '≥'} ${goal})${t.pass || t.missBy === null ? '' : `  (missed by ${Math.round(t.missBy * 100)} %)`}`);
  }
  const h = r.highestRateUnderP99Bound;
  console.log(`  highest offered rate with p99 ≤ ${r.config.p99BoundUs} µs and no loss: ${h.rate === null ? 'none' : `${h.rate.toLocaleString('en-US')} frames/s${h.aboveAll ? ' (the highest rate tried)' : ''}`}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      log(`${err instanceof HarnessFailure ? 'HARNESS FAILURE' : 'error'}: ${(err as Error).stack ?? String(err)}`);
      killAll();
      process.exit(1);
    },
  );
}
