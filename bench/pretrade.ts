/**
 * Pre-trade check round trip over NATS, and the hot-path cost the risk model adds per frame.
 *
 *  1. The engine runs as its own process (`aether-risk demo`: the simulated exchange in that
 *     process, NATS on 127.0.0.1:4222, its own namespace). This process sends pre-trade checks
 *     at a fixed rate (open loop, 1 ms batches) and records each request → reply time in an
 *     HDR histogram. Rates: 1,000 and 10,000 checks/s.
 *  2. The added per-frame cost on the worker: with the risk model, every book change also
 *     copies the changed top levels into the market board (shared memory the checks read).
 *     Measured as frame → risk record with and without the board write, interleaved.
 *
 * Writes bench/results/pretrade-latest.json and the `pretrade` section of docs/benchmarks.md.
 * Stops by itself (about 40 s). Loopback only.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { connect } from '@nats-io/transport-node';
import * as hdr from 'hdr-histogram-js';
import { InstrumentActor } from '../actors/instrument.js';
import { LevelBatch } from '../actors/levels.js';
import { BookScanner } from '../adapters/kraken/parser.js';
import { createRiskEncoder } from '../adapters/nats/codec.js';
import { MarketBoard } from '../engine/market-board.js';
import { preTradeSubject } from '../engine/switchboard.js';
import { deleteNamespaceStreams } from './e2e-common.js';
import { generateBookStream } from './generator.js';
import { gitCommit } from './harness.js';

const QUICK = process.argv.includes('--quick');
const NS = `bench_pretrade_${process.pid}`;
const RATES = [1_000, 10_000];
const SECONDS = QUICK ? 3 : 8;

function histogram(): hdr.Histogram {
  return hdr.build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

// ---------------------------------------------------------------- 1. round trip over NATS

const profileArgs = process.env.PRETRADE_PROFILE_DIR !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PRETRADE_PROFILE_DIR}`] : [];
const engine = spawn(process.execPath, [...profileArgs, '--import', 'tsx', '-e', 'import("./engine/cli.ts").then((m) => m.main(["demo"])).then((c) => { process.exitCode = c; })'], {
  env: { PATH: process.env.PATH ?? '', NATS_URL: 'nats://127.0.0.1:4222', AETHER_NATS_NAMESPACE: NS, AETHER_SIM_SYMBOLS: '4', AETHER_SIM_RATE: '50', AETHER_LOG_LEVEL: 'warn', AETHER_LOG_SUMMARY_MS: '0', AETHER_WORKERS: '1' },
  stdio: ['ignore', 'ignore', 'pipe'],
});
let engineErr = '';
engine.stderr.setEncoding('utf8').on('data', (d: string) => (engineErr += d));
const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
const subject = preTradeSubject(NS);
const order = JSON.stringify({ account: 'bench', symbol: 'BTC/USD', side: 'buy', qty: '0.001' });

// Wait until the engine answers with a LIVE book (an accepted check).
const deadline = Date.now() + 60_000;
for (;;) {
  try {
    const r = JSON.parse((await nc.request(subject, order, { timeout: 1000 })).string()) as { accept: boolean; reasons: { code: string }[] };
    if (r.accept) break;
  } catch {
    // not up yet
  }
  if (Date.now() > deadline) throw new Error(`engine did not answer checks within 60 s\n${engineErr.slice(-2000)}`);
  await new Promise((r) => setTimeout(r, 250));
}

interface RateResult {
  rate: number;
  sent: number;
  answered: number;
  errors: number;
  accepted: number;
  achievedPerSec: number;
  us: { p50: number; p90: number; p99: number; p999: number; max: number };
}

async function runRate(rate: number, to: string = subject): Promise<RateResult> {
  const h = histogram();
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let accepted = 0;
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const total = rate * SECONDS;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    while (sent < due) {
      sent++;
      const t0 = process.hrtime.bigint();
      inflight.push(
        nc.request(to, order, { timeout: 5000 }).then(
          (m) => {
            h.recordValue(Math.max(1, Math.round(Number(process.hrtime.bigint() - t0) / 1000)));
            answered++;
            if (m.string().startsWith('{"accept":true')) accepted++;
          },
          () => void errors++,
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  const seconds = (performance.now() - start) / 1000;
  const us = { p50: h.getValueAtPercentile(50), p90: h.getValueAtPercentile(90), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9), max: h.maxValue };
  return { rate, sent, answered, errors, accepted, achievedPerSec: Math.round(answered / seconds), us };
}

// The account would hit no limit (none configured), but reservations pile up: each accepted
// check reserves 0.001 BTC for 30 s. That is the realistic state of a busy account.
const rates: RateResult[] = [];
for (const rate of RATES) rates.push(await runRate(rate));
engine.kill('SIGTERM');
await new Promise((r) => engine.once('exit', r));
await deleteNamespaceStreams('nats://127.0.0.1:4222', NS);

// The floor: the same requests to a process that answers at once (no engine, no check), so
// the table can say how much of the round trip is NATS request/reply on this machine.
const echoSubject = `${subject}.echo`;
const echo = spawn(
  process.execPath,
  ['--input-type=module', '-e', `import { connect } from '@nats-io/transport-node'; const nc = await connect({ servers: 'nats://127.0.0.1:4222' }); nc.subscribe(${JSON.stringify(echoSubject)}, { callback: (e, m) => m.respond('{"accept":true}') }); await nc.flush(); process.stdout.write('ready\\n');`],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
await new Promise<void>((r) => echo.stdout.once('data', () => r()));
const floor: RateResult[] = [];
for (const rate of RATES) floor.push(await runRate(rate, echoSubject));
echo.kill('SIGTERM');
await nc.close();

// ---------------------------------------------------------------- 2. added per-frame cost

function frameCost(depth: number, withBoard: boolean[], rounds: number) {
  const s = generateBookStream({ depth, updates: 5000, seed: 7 });
  const scanner = new BookScanner();
  const batch = new LevelBatch();
  const encoder = createRiskEncoder();
  const board = MarketBoard.create(1);
  const res: Record<string, number[]> = { without: [], with: [] };
  for (let r = 0; r < rounds; r++) {
    for (const wb of r % 2 === 0 ? withBoard : [...withBoard].reverse()) {
      const a = new InstrumentActor(s.spec.symbol, depth, false, 1);
      a.setPrecision(s.spec.pricePrecision, s.spec.qtyPrecision);
      let sink = 0;
      const t0 = process.hrtime.bigint();
      for (const f of s.frames) {
        scanner.scan(f, batch);
        a.onBook(batch, 1);
        sink += encoder.encode(a.risk).length;
        if (wb) board.write(0, a);
      }
      const ns = Number(process.hrtime.bigint() - t0) / s.frames.length;
      if (sink === 0) throw new Error('nothing encoded');
      res[wb ? 'with' : 'without']!.push(ns);
    }
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  return { depth, withoutNs: Math.round(med(res.without!)), withNs: Math.round(med(res.with!)), addedNs: Math.round(med(res.with!) - med(res.without!)) };
}
const frame = [10, 100].map((d) => frameCost(d, [false, true], QUICK ? 7 : 21));

// ---------------------------------------------------------------- output

const commit = gitCommit() ?? 'unknown';
const result = {
  env: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, commit, date: new Date().toISOString(), loadavg: loadavg() },
  config: { seconds: SECONDS, engine: 'aether-risk demo, 1 worker, 4 simulated instruments at 50 book msgs/s, separate process', client: 'nc.request per check, open loop, 1 ms batches' },
  rates,
  /** The same load against a responder that answers at once: NATS request/reply alone. */
  floor,
  frame,
  targets: { p50Us: 150, p99Us: 1000, atRate: 10_000 },
};
const fmt = (n: number) => n.toLocaleString('en-US');
console.log(`environment: ${result.env.cpu}, ${result.env.cores} cores, Node ${result.env.node}, commit ${commit}`);
for (const r of rates) console.log(`checks at ${fmt(r.rate)}/s: answered ${fmt(r.answered)}/${fmt(r.sent)} (errors ${r.errors}), achieved ${fmt(r.achievedPerSec)}/s, µs p50 ${r.us.p50} p90 ${r.us.p90} p99 ${r.us.p99} p99.9 ${r.us.p999} max ${r.us.max}`);
for (const r of floor) console.log(`floor (NATS request/reply, instant responder) at ${fmt(r.rate)}/s: µs p50 ${r.us.p50} p90 ${r.us.p90} p99 ${r.us.p99} p99.9 ${r.us.p999}`);
for (const f of frame) console.log(`depth ${f.depth}: frame → risk record ${fmt(f.withoutNs)} ns, with the board write ${fmt(f.withNs)} ns (added ${fmt(f.addedNs)} ns)`);
const ten = rates.find((r) => r.rate === 10_000)!;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
console.log(`targets at 10k/s: p50 ≤ 150 µs ${verdict(ten.us.p50 <= 150)} (${ten.us.p50}), p99 ≤ 1 ms ${verdict(ten.us.p99 <= 1000)} (${ten.us.p99})`);
if (rates.some((r) => r.errors > 0 || r.answered !== r.sent)) {
  console.error('pre-trade benchmark: some checks were not answered');
  process.exitCode = 1;
}
if (!QUICK) {
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/pretrade-latest.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  const docsUrl = new URL('../docs/benchmarks.md', import.meta.url);
  const docs = readFileSync(docsUrl, 'utf8');
  const miss = (v: number, t: number) => (v <= t ? '**PASS**' : `**MISS** by ${Math.round(((v - t) / t) * 100)} %`);
  const section = `<!-- pretrade:begin (generated by bench/pretrade.ts from bench/results/pretrade-latest.json) -->
## Pre-trade checks over NATS

\`npm run bench:pretrade\` · run ${result.env.date} · commit \`${commit}\` · ${result.env.cpu}, ${result.env.cores} cores · Node ${result.env.node} · load average ${result.env.loadavg.map((x) => x.toFixed(2)).join(' / ')}.
The engine runs as its own process (\`aether-risk demo\`: 1 worker, 4 simulated instruments); this
process sends checks at a fixed rate (open loop) with \`nc.request\` and records request → reply in
an HDR histogram. Everything shares the 2 cores with nats-server.

| rate (checks/s) | answered | achieved/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs |
|---:|---:|---:|---:|---:|---:|---:|---:|
${rates.map((r) => `| ${fmt(r.rate)} | ${fmt(r.answered)}/${fmt(r.sent)} | ${fmt(r.achievedPerSec)} | ${r.us.p50} | ${r.us.p90} | ${r.us.p99} | ${r.us.p999} | ${r.us.max} |`).join('\n')}

Targets at 10,000 checks/s: p50 ≤ 150 µs — ${miss(ten.us.p50, 150)} (${ten.us.p50} µs); p99 ≤ 1 ms — ${miss(ten.us.p99, 1000)} (${ten.us.p99} µs).

What bounds it, measured in the same run: the same requests at the same rates to a process
that answers at once (no engine, no check — NATS request/reply alone on this machine):

| rate (checks/s) | p50 µs | p90 µs | p99 µs | p99.9 µs |
|---:|---:|---:|---:|---:|
${floor.map((r) => `| ${fmt(r.rate)} | ${r.us.p50} | ${r.us.p90} | ${r.us.p99} | ${r.us.p999} |`).join('\n')}

The difference between the two tables is the engine's share (parsing, the account decision,
the JSON reply, and its main thread's other work: worker reports, the sampler); the rest is
the client, nats-server and the engine process sharing 2 vCPUs.

Added hot-path cost of the risk model per frame (the market-board copy of the changed levels),
frame → risk record with and without it, median of interleaved runs:

| depth | without (ns) | with board write (ns) | added (ns) |
|---:|---:|---:|---:|
${frame.map((f) => `| ${f.depth} | ${fmt(f.withoutNs)} | ${fmt(f.withNs)} | ${fmt(f.addedNs)} |`).join('\n')}
<!-- pretrade:end -->`;
  const start = docs.indexOf('<!-- pretrade:begin');
  const end = docs.indexOf('<!-- pretrade:end -->');
  const next = start >= 0 && end > start ? docs.slice(0, start) + section + docs.slice(end + '<!-- pretrade:end -->'.length) : `${docs.trimEnd()}\n\n${section}\n`;
  writeFileSync(docsUrl, next);
}
