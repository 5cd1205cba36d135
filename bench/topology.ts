/**
 * Topology measurement behind docs/architecture.md: is it worth moving raw frames from the
 * thread that owns the socket to an actor on another thread?
 *
 *   inline: the socket-owning thread runs parse → book → checksum → risk → encode itself
 *           (the engine's design: each worker owns its Kraken connection).
 *   hop:    the socket thread posts each raw frame to an actor thread, which runs the same
 *           path and posts the encoded risk back (one frame in flight, closed loop).
 *
 * Frames: the recorded BTC/USD depth-10 stream (test/fixtures), cycled. Prints p50/p90/p99/
 * p99.9/max in µs and writes bench/results/topology-latest.json.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createReplaySession } from '../adapters/kraken/session.js';
import { createRiskEncoder } from '../adapters/nats/codec.js';
import { spawnWorker } from '../engine/spawn-worker.js';

const N = Number(process.env.TOPOLOGY_FRAMES ?? 20_000);
const WARMUP = 2_000;
const frames = readFileSync(new URL('../test/fixtures/kraken/btcusd-d10-python-kraken-sdk.ndjson', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => Buffer.from(l));

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
function summary(samplesNs: Float64Array) {
  const s = Float64Array.from(samplesNs).sort();
  const us = (v: number) => Math.round(v / 10) / 100;
  return { n: s.length, p50: us(pct(s, 50)), p90: us(pct(s, 90)), p99: us(pct(s, 99)), p999: us(pct(s, 99.9)), max: us(s[s.length - 1]!) };
}

// ---- inline
const encoder = createRiskEncoder();
let encoded = 0;
let t = 0;
const session = createReplaySession({
  depth: 10,
  precision: new Map([['BTC/USD', { price: 1, qty: 8 }]]),
  clock: { nowUs: () => t },
  onRisk: (a) => {
    encoded += encoder.encode(a.risk).length;
  },
});
const inline = new Float64Array(N);
for (let i = 0; i < WARMUP + N; i++) {
  const f = frames[i % frames.length]!;
  const t0 = process.hrtime.bigint();
  t++;
  session.onFrame(f, t);
  const dt = Number(process.hrtime.bigint() - t0);
  if (i >= WARMUP) inline[i - WARMUP] = dt;
}
const mismatches = [...session.actors.values()].reduce((n, a) => n + a.counters.checksumMismatches, 0);
if (mismatches > 0 || encoded === 0) throw new Error(`inline path failed: ${mismatches} mismatches`);

// ---- hop
const worker = spawnWorker(new URL('./topology-worker.ts', import.meta.url), {});
const hop = new Float64Array(N);
let got = 0;
await new Promise<void>((resolve, reject) => {
  let i = 0;
  let t0 = 0n;
  const sendNext = () => {
    const f = frames[i % frames.length]!;
    t0 = process.hrtime.bigint();
    worker.postMessage(f);
  };
  worker.on('error', reject);
  worker.on('message', (bytes: Uint8Array | null) => {
    const dt = Number(process.hrtime.bigint() - t0);
    if (i >= WARMUP) hop[i - WARMUP] = dt;
    if (bytes !== null) got++;
    i++;
    if (i < WARMUP + N) sendNext();
    else resolve();
  });
  sendNext();
});
await worker.terminate();
if (got === 0) throw new Error('hop path produced no risk');

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  // not a git checkout
}
const result = {
  env: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, commit, date: new Date().toISOString(), loadavg: loadavg() },
  frames: N,
  stream: 'BTC/USD depth 10, recorded (test/fixtures/kraken/btcusd-d10-python-kraken-sdk.ndjson), cycled',
  inlineUs: summary(inline),
  hopUs: summary(hop),
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/topology-latest.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
console.log(`environment: ${result.env.cpu}, ${result.env.cores} cores, Node ${result.env.node}, commit ${commit}, load ${result.env.loadavg.map((x) => x.toFixed(2)).join(' ')}`);
console.log('frame → encoded risk, µs per frame      p50      p90      p99    p99.9      max');
for (const [name, s] of [['inline (socket thread = actor)', result.inlineUs], ['hop (postMessage to actor and back)', result.hopUs]] as const) {
  console.log(`${name.padEnd(38)} ${[s.p50, s.p90, s.p99, s.p999, s.max].map((v) => v.toFixed(2).padStart(8)).join(' ')}`);
}
