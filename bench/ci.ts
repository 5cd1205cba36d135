/**
 * `npm run bench:ci` — the short benchmark CI runs after the tests (at most 4 minutes):
 *
 *   1. the hot path, quick (bench/hotpath.ts --quick: every variant, every stage, ccxt side
 *      by side; bench/results/hotpath-quick.json);
 *   2. end to end, two points (bench/e2e.ts --ci: 50 instruments at 2,000 and 10,000 frames/s;
 *      bench/results/tmp/e2e-ci.json);
 *   3. persistence, quick (bench/persist.ts --quick: COPY rows/s direct and through JetStream,
 *      engine frames/s with persistence on vs off; fails if a record is not stored once);
 *   4. the headline figures, the ratios against CCXT, and the ratios against the committed
 *      baseline (bench/results/hotpath-latest.json, e2e-latest.json), so a regression shows in
 *      every CI log.
 *
 * Exit code 1 only when the harness fails or a correctness check inside it fails (a checksum
 * mismatch, a lost or out-of-order risk record, a verification failure of the hot path);
 * never for slow figures: CI machines differ, and figures are printed, not gated.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { E2eResults, PointResult } from './e2e.js';
import type { HotpathResults } from './hotpath.js';
import { repoRoot } from './render.js';

const ROOT = repoRoot();
const TOTAL_S = Number(process.env.BENCH_CI_DEADLINE_S ?? 230);
const t0 = Date.now();
const left = () => TOTAL_S - (Date.now() - t0) / 1000;
const log = (m: string) => process.stderr.write(`[bench:ci] ${m}\n`);

function step(name: string, file: string, args: string[], timeoutS: number, env: NodeJS.ProcessEnv = {}): Promise<number> {
  log(`${name}: bench/${file} ${args.join(' ')} (at most ${Math.round(timeoutS)} s)`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', file), ...args], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    const timer = setTimeout(() => {
      log(`${name}: exceeded ${Math.round(timeoutS)} s: stopping it (harness failure)`);
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}

function readJson<T>(path: string): T | null {
  try {
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
  } catch {
    return null;
  }
}

const n0 = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const n1 = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(1));
const ratio = (now: number | null | undefined, base: number | null | undefined) => (now == null || base == null || !(base > 0) ? '–' : `${(now / base).toFixed(2)}×`);

const failures: string[] = [];
const started = Date.now();
const hot = await step('hot path (quick)', 'hotpath.ts', ['--quick', '--no-profile'], Math.min(60, left() - 100), { QUIET_WAIT_MS: '0' });
if (hot !== 0) failures.push(`hot path exited ${hot} (a verification failure or a harness error: see above)`);
const e2eBudget = left() - 60; // the rest is the persistence step's
const e2e = await step('end to end (2 points)', 'e2e.ts', ['--ci'], e2eBudget, { E2E_DEADLINE_S: String(Math.floor(e2eBudget - 3)) });
if (e2e !== 0) failures.push(`end to end exited ${e2e} (a correctness or harness failure: see above)`);
const persist = await step('persistence (quick)', 'persist.ts', ['--quick'], Math.max(45, left() - 3));
if (persist !== 0) failures.push(`persistence exited ${persist} (a record not stored exactly once, or a harness error: see above)`);

// ------------------------------------------------------------------ headline figures and comparisons

const results = join(ROOT, 'bench', 'results');
const hq = readJson<HotpathResults>(join(results, 'hotpath-quick.json'));
const hb = readJson<HotpathResults>(join(results, 'hotpath-latest.json'));
const eq = readJson<E2eResults>(join(results, 'tmp', 'e2e-ci.json'));
const eb = readJson<E2eResults>(join(results, 'e2e-latest.json'));
const fresh = <T extends { env: { date: string } }>(r: T | null) => (r !== null && Date.parse(r.env.date) >= started - 1000 ? r : null);
const hotNow = fresh(hq);
const e2eNow = fresh(eq);

const out: string[] = [];
out.push('', '== bench:ci headline figures (informative: figures never fail CI; correctness checks do) ==');
if (hotNow !== null) {
  const env = hotNow.env;
  out.push(`environment: ${env.cpu}, ${env.cores} cores, Node ${env.node}, commit ${env.commit ?? 'n/a'}${env.dirty === true ? ' (dirty)' : ''}, load ${env.loadavg.join(' ')}`);
  out.push(`baseline:    ${hb === null ? 'none (bench/results/hotpath-latest.json missing)' : `hot path ${hb.env.date} commit ${hb.env.commit ?? 'n/a'}`}${eb === null ? '' : `; end to end ${eb.env.date} commit ${eb.env.commit ?? 'n/a'}`}`);
  out.push('', 'hot path (quick mode), ns per op, median; ratio = this run ÷ baseline (> 1 is slower):');
  const mix = (r: HotpathResults | null) => r?.blocks.find((b) => b.depth === 10)?.variants.find((v) => v.id === 'session-mix')?.nsPerOp.median ?? null;
  out.push(`  depth-10 mix, full frame path per frame: ${n0(mix(hotNow))} ns (target ≤ 5,000)   baseline ${n0(mix(hb))}   ratio ${ratio(mix(hotNow), mix(hb))}`);
  for (const b of hotNow.blocks) {
    const base = hb?.blocks.find((x) => x.depth === b.depth);
    const v = (blk: typeof b | undefined, id: string) => blk?.variants.find((x) => x.id === id);
    const like = (blk: typeof b | undefined) => v(blk, 'scan-cc') ?? v(blk, 'scan');
    const scan = v(b, 'scan')?.nsPerOp.median;
    const scanB = v(base, 'scan')?.nsPerOp.median;
    out.push(
      `  depth ${String(b.depth).padEnd(4)} parse+apply+checksum ${n0(scan)} ns (baseline ${n0(scanB)}, ratio ${ratio(scan, scanB)});` +
        ` vs ccxt checksum on ${n1(like(b)?.vsCcxtOn?.speedup)}× (baseline ${n1(like(base)?.vsCcxtOn?.speedup)}×, target ≥ 20×),` +
        ` checksum off ${n1(like(b)?.vsCcxtOff?.speedup)}× (baseline ${n1(like(base)?.vsCcxtOff?.speedup)}×, target ≥ 5×)`,
    );
    const st = b.stages;
    if (st != null) {
      const sb = base?.stages;
      out.push(
        `             stages parse ${n0(st.parse.median)} · apply ${n0(st.apply.median)} · checksum ${n0(st.checksum.median)} · risk ${n0(st.risk.median)} · encode ${n0(st.encode.median)} = ${n0(st.total.median)} ns` +
          ` (baseline ${n0(sb?.total.median)}, ratio ${ratio(st.total.median, sb?.total.median)}); ccxt parse+apply ${n0(st.ccxtParseApply?.median)}, checksum ${n0(st.ccxtChecksum?.median)} ns`,
      );
    }
  }
} else out.push('hot path: no results from this run');

if (e2eNow !== null) {
  const c = e2eNow.config;
  out.push('', `end to end (${c.symbols} instruments, ${c.workers} worker(s), depth ${c.depth}, exchange tick ${c.tickMs} ms; exchange send → subscriber receive):`);
  const match = (p: PointResult) => eb?.points.find((q) => q.kind === 'sweep' && q.rate === p.rate && q.symbols === p.symbols && q.depth === p.depth && q.workers === p.workers);
  for (const p of e2eNow.points) {
    const b = match(p);
    const l = p.latencyUs;
    out.push(
      `  ${n0(p.rate).padStart(6)} frames/s offered, ${n0(p.achievedRate)} achieved: p50 ${n0(l.p50)} µs · p90 ${n0(l.p90)} · p99 ${n0(l.p99)} · p99.9 ${n0(l.p999)} · max ${n0(l.max)}` +
        `; engine ${n1(p.engine.cpuUsPerFrame)} µs CPU/frame, peak RSS ${n0((p.engine.peakRssBytes ?? NaN) / 2 ** 20)} MiB; ${p.lossless ? 'lossless' : 'NOT lossless'}, checks ${p.ok ? 'ok' : 'FAILED'}` +
        `${p.checks.simulatorFaults.length > 0 ? ` (${p.checks.simulatorFaults.length} simulator fault(s), not the engine's)` : ''}`,
    );
    out.push(
      b === undefined
        ? '         baseline: no matching point in bench/results/e2e-latest.json'
        : `         baseline p50 ${n0(b.latencyUs.p50)} µs, p99 ${n0(b.latencyUs.p99)} µs, ${n1(b.engine.cpuUsPerFrame)} µs CPU/frame → ratio p50 ${ratio(l.p50, b.latencyUs.p50)}, p99 ${ratio(l.p99, b.latencyUs.p99)}, CPU/frame ${ratio(p.engine.cpuUsPerFrame, b.engine.cpuUsPerFrame)}`,
    );
  }
  const others = e2eNow.points.map((p) => p.cpu.others).filter((x): x is number => x !== null);
  if (others.length > 0) out.push(`  other processes used up to ${Math.max(...others).toFixed(2)} of ${e2eNow.env.cores} cores during the windows (a busy machine inflates latency)`);
} else out.push('', 'end to end: no results from this run');

out.push('', failures.length === 0 ? `bench:ci: OK in ${Math.round((Date.now() - t0) / 1000)} s (harness ran, every correctness check held)` : `bench:ci: FAILED: ${failures.join('; ')}`);
console.log(out.join('\n'));
process.exit(failures.length > 0 ? 1 : 0);
