/**
 * `npm run bench` — the whole benchmark from scratch, stopping by itself within 10 minutes:
 *
 *   1. the hot path with per-stage costs, ours against CCXT Pro (bench/hotpath.ts, ~1.5 min):
 *      bench/results/hotpath-<date>.json + hotpath-latest.json, its section of
 *      docs/benchmarks.md and docs/bench-stages.svg;
 *   2. end to end across processes (bench/e2e.ts, ~4–6 min): bench/results/e2e-<date>.json +
 *      e2e-latest.json, the end-to-end section of docs/benchmarks.md and
 *      docs/bench-latency.svg, docs/bench-throughput.svg (bench/render-e2e.ts).
 *
 * Needs nats-server on 127.0.0.1:4222 (as the tests do). Exit code 0 when every part ran and
 * every correctness check held; targets are reported PASS/MISS and never fail the run.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { E2eResults } from './e2e.js';
import { repoRoot } from './render.js';

const ROOT = repoRoot();
const TOTAL_S = Number(process.env.BENCH_DEADLINE_S ?? 600);
const t0 = Date.now();
const left = () => TOTAL_S - (Date.now() - t0) / 1000;
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

function step(name: string, file: string, args: string[], timeoutS: number, env: NodeJS.ProcessEnv = {}): Promise<number> {
  log(`${name}: node --import tsx bench/${file} ${args.join(' ')} (at most ${Math.round(timeoutS)} s)`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', file), ...args], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    const timer = setTimeout(() => {
      log(`${name}: exceeded ${Math.round(timeoutS)} s: stopping it`);
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}

const failures: string[] = [];
const hot = await step('hot path', 'hotpath.ts', [], Math.min(200, left() - 60));
if (hot !== 0) failures.push(`hot path exited ${hot}`);
const e2eBudget = left() - 15;
const e2e = await step('end to end', 'e2e.ts', [], e2eBudget, { E2E_DEADLINE_S: String(Math.floor(e2eBudget - 5)) });
if (e2e !== 0) failures.push(`end to end exited ${e2e}`);
const file = join(ROOT, 'bench', 'results', 'e2e-latest.json');
const r = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as E2eResults) : null;
if (r === null || Date.parse(r.env.date) < t0 - 1000) failures.push('end to end wrote no new results');
log(`done in ${Math.round((Date.now() - t0) / 1000)} s${failures.length > 0 ? `; FAILED: ${failures.join('; ')}` : ''}`);
process.exit(failures.length > 0 ? 1 : 0);
