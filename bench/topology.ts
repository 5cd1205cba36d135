/**
 * Topology measurement behind docs/architecture.md: is it worth moving raw frames from the
 * thread that owns the socket to an actor on another thread?
 *
 *   inline: the socket-owning thread runs parse → book → checksum → risk → encode itself
 *           (the engine's design: each worker owns its Kraken connection).
 *   hop:    the socket thread posts each raw frame to an actor thread, which runs the same
 *           path and posts the encoded risk back (one frame in flight, closed loop).
 *
 * Frames: the recorded BTC/USD depth-10 stream (test/fixtures), cycled. The two are measured
 * alternately, TOPOLOGY_REPS times each (the hop's cost depends on whether the other core is
 * awake, which drifts over a run). Prints p50/p90/p99/p99.9/max in µs per repetition and the
 * median over repetitions, and writes bench/results/topology-latest.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createReplaySession } from '../adapters/kraken/session.js';
import { createRiskEncoder } from '../adapters/nats/codec.js';
import { spawnWorker } from '../engine/spawn-worker.js';
import { gitCommit } from './harness.js';

const N = Number(process.env.TOPOLOGY_FRAMES ?? 20_000);
const REPS = Number(process.env.TOPOLOGY_REPS ?? 3);
const WARMUP = 2_000;
const frames = readFileSync(new URL('../test/fixtures/kraken/btcusd-d10-python-kraken-sdk.ndjson', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => Buffer.from(l));

interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}
const QUANTILES = ['p50', 'p90', 'p99', 'p999', 'max'] as const;

function summary(samplesNs: Float64Array): Summary {
  const s = Float64Array.from(samplesNs).sort();
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  const us = (v: number) => Math.round(v / 10) / 100;
  return { n: s.length, p50: us(at(50)), p90: us(at(90)), p99: us(at(99)), p999: us(at(99.9)), max: us(s[s.length - 1]!) };
}

// ---- inline: this thread is the actor
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

function measureInline(): Float64Array {
  const samples = new Float64Array(N);
  for (let i = 0; i < WARMUP + N; i++) {
    const f = frames[i % frames.length]!;
    const t0 = process.hrtime.bigint();
    t++;
    session.onFrame(f, t);
    const dt = Number(process.hrtime.bigint() - t0);
    if (i >= WARMUP) samples[i - WARMUP] = dt;
  }
  const mismatches = [...session.actors.values()].reduce((n, a) => n + a.counters.checksumMismatches, 0);
  if (mismatches > 0 || encoded === 0) throw new Error(`inline path failed: ${mismatches} mismatches`);
  return samples;
}

// ---- hop: the actor is on another thread
const worker = spawnWorker(new URL('./topology-worker.ts', import.meta.url), {});

function measureHop(): Promise<Float64Array> {
  const samples = new Float64Array(N);
  let got = 0;
  let i = 0;
  let t0 = 0n;
  return new Promise((resolve, reject) => {
    const sendNext = () => {
      t0 = process.hrtime.bigint();
      worker.postMessage(frames[i % frames.length]!);
    };
    const onMessage = (bytes: Uint8Array | null) => {
      const dt = Number(process.hrtime.bigint() - t0);
      if (i >= WARMUP) samples[i - WARMUP] = dt;
      if (bytes !== null) got++;
      i++;
      if (i < WARMUP + N) return sendNext();
      worker.off('message', onMessage);
      if (got === 0) reject(new Error('hop path produced no risk'));
      else resolve(samples);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    sendNext();
  });
}

const reps: { inlineUs: Summary; hopUs: Summary }[] = [];
for (let r = 0; r < REPS; r++) reps.push({ inlineUs: summary(measureInline()), hopUs: summary(await measureHop()) });
await worker.terminate();

function medianOf(k: 'inlineUs' | 'hopUs'): Summary {
  const out: Summary = { n: N * REPS, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  for (const q of QUANTILES) out[q] = reps.map((r) => r[k][q]).sort((a, b) => a - b)[Math.floor(REPS / 2)]!;
  return out;
}

const commit = gitCommit() ?? 'unknown';
const result = {
  env: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, commit, date: new Date().toISOString(), loadavg: loadavg() },
  frames: N,
  reps: REPS,
  stream: 'BTC/USD depth 10, recorded (test/fixtures/kraken/btcusd-d10-python-kraken-sdk.ndjson), cycled',
  /** Per percentile, the median over the repetitions. */
  inlineUs: medianOf('inlineUs'),
  hopUs: medianOf('hopUs'),
  repetitions: reps,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/topology-latest.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);

const row = (name: string, s: Summary) => console.log(`${name.padEnd(44)} ${QUANTILES.map((q) => s[q].toFixed(2).padStart(9)).join(' ')}`);
console.log(`environment: ${result.env.cpu}, ${result.env.cores} cores, Node ${result.env.node}, commit ${commit}, load ${result.env.loadavg.map((x) => x.toFixed(2)).join(' ')}`);
console.log(`${'frame → encoded risk, µs per frame'.padEnd(44)} ${QUANTILES.map((q) => q.padStart(9)).join(' ')}`);
reps.forEach((r, i) => {
  row(`inline, repetition ${i + 1}`, r.inlineUs);
  row(`hop, repetition ${i + 1}`, r.hopUs);
});
row('inline (socket thread = actor), median', result.inlineUs);
row('hop (postMessage to actor and back), median', result.hopUs);
