/**
 * The pure parts of the end-to-end benchmark: the reference replay that attributes checksum
 * mismatches (bench/e2e-verify.ts), the clock and timestamp helpers, the SVG charts and the
 * generated docs section. The benchmark itself runs in CI as `npm run bench:ci`.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epochOffsetUs, epochUs, latencyHistogram, monoUs, parseStampUs, summarize } from '../bench/e2e-common.js';
import { recordedFrames, verifyRecording } from '../bench/e2e-verify.js';
import { generateBookStream, timestampText } from '../bench/generator.js';
import { groupedBars, logLogChart, stackedBars } from '../bench/charts.js';
import { E2E_BEGIN, E2E_END, latencySvg, renderE2eSection, throughputSvg } from '../bench/render-e2e.js';
import { updateDocSection } from '../bench/render.js';
import type { E2eResults, PointResult } from '../bench/e2e.js';

const dir = mkdtempSync(join(tmpdir(), 'aether-bench-e2e-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Server → client WebSocket text frames, as the exchange writes them. */
function wsFrames(texts: readonly string[]): Buffer {
  return Buffer.concat(
    texts.map((s) => {
      const p = Buffer.from(s, 'latin1');
      const h = p.length < 126 ? Buffer.from([0x81, p.length]) : p.length < 65536 ? Buffer.from([0x81, 126, p.length >>> 8, p.length & 0xff]) : Buffer.concat([Buffer.from([0x81, 127, 0, 0, 0, 0]), Buffer.from([p.length >>> 24, (p.length >>> 16) & 0xff, (p.length >>> 8) & 0xff, p.length & 0xff])]);
      return Buffer.concat([h, p]);
    }),
  );
}

t.test('reference replay: a consistent stream has no inconsistent frame, a wrong checksum is found at its frame', async (t) => {
  for (const depth of [10, 100]) {
    const s = generateBookStream({ depth, updates: 1500, seed: 7 + depth });
    const file = join(dir, `ok-${depth}.ws`);
    const noise = ['{"channel":"heartbeat"}', '{"channel":"status","type":"update","data":[{"system":"online"}]}'];
    writeFileSync(file, wsFrames([...noise, ...s.texts]));
    t.equal([...recordedFrames(readFileSync(file))].length, s.texts.length + noise.length, `depth ${depth}: every frame read back`);
    const [v] = verifyRecording(file, ['BTC/USD'], depth);
    t.equal(v!.frames, s.texts.length, `depth ${depth}: every book frame replayed`);
    t.equal(v!.inconsistentCount, 0, `depth ${depth}: the generator's stream is consistent`);

    const bad = [...s.texts];
    const k = 700;
    bad[k] = bad[k]!.replace(/"checksum":(\d+)/, (_m, c: string) => `"checksum":${(Number(c) + 1) % 2 ** 32}`);
    const badFile = join(dir, `bad-${depth}.ws`);
    writeFileSync(badFile, wsFrames(bad));
    const [w] = verifyRecording(badFile, ['BTC/USD'], depth);
    t.equal(w!.inconsistentCount, 1, `depth ${depth}: one inconsistent frame`);
    t.equal(w!.inconsistent[0]!.n, k + 1, `depth ${depth}: at the corrupted frame`);
    t.equal(w!.inconsistent[0]!.referenceChecksum, s.checksums[k], `depth ${depth}: the reference computes the true checksum`);
  }
  const [none] = verifyRecording(join(dir, 'ok-10.ws'), ['ETH/USD'], 10);
  t.equal(none!.frames, 0, 'other symbols are not replayed');
});

t.test('timestamps and clocks', async (t) => {
  const us = Date.UTC(2026, 10, 26, 19, 52, 33) * 1000 + 422645;
  const text = timestampText(us);
  t.equal(text, '2026-11-26T19:52:33.422645Z');
  t.equal(parseStampUs(Buffer.from(`xx${text}`), 2), us, 'RFC 3339 with 6 fraction digits → epoch µs');
  t.equal(parseStampUs(Buffer.from('2026-11-26T19:52:34.000001Z'), 0), us - 422645 + 1_000_001, 'next second');
  const off = epochOffsetUs();
  const a = monoUs();
  const e = epochUs();
  t.ok(Math.abs(e - a - off) < 1000, 'epoch = monotonic + the measured offset (to < 1 ms)');
});

t.test('HDR histogram summary', async (t) => {
  const h = latencyHistogram();
  for (let i = 1; i <= 1000; i++) h.recordValue(i);
  const s = summarize(h);
  t.equal(s.count, 1000);
  t.equal(s.p50, 500);
  t.equal(s.max, 1000);
  t.ok(s.p999 >= 998 && s.p999 <= 1000);
  t.ok(s.hdr.length > 10, 'the histogram travels as compressed base64');
});

function wellFormed(t: Test, svg: string, what: string): void {
  t.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), `${what}: an SVG document`);
  t.ok(svg.trimEnd().endsWith('</svg>'), `${what}: closed`);
  t.notMatch(svg, /NaN|undefined|Infinity/, `${what}: no NaN/undefined/Infinity`);
  const open = (svg.match(/<(text|title)\b/g) ?? []).length;
  const close = (svg.match(/<\/(text|title)>/g) ?? []).length;
  t.equal(open, close, `${what}: text elements balanced`);
}

t.test('charts', async (t) => {
  wellFormed(
    t,
    logLogChart({
      title: 'latency',
      xTitle: 'rate',
      yTitle: 'µs',
      xTicks: [1000, 10000, 100000],
      xLabel: String,
      yLabel: String,
      series: [{ name: 'p50', color: '#000', points: [{ x: 1000, y: 120 }, { x: 10000, y: 300 }, { x: 100000, y: 20000, hollow: true }] }],
      refs: [{ y: 1000, label: '1 ms', color: '#f00' }],
      note: 'a & b < c',
    }),
    'log-log chart',
  );
  wellFormed(t, groupedBars({ title: 'bars', yTitle: 'f/s', yLabel: String, groups: [{ label: '1k', bars: [{ name: 'offered', value: 1000, color: '#ccc' }, { name: 'achieved', value: 990, color: '#00f', text: '990' }] }] }), 'grouped bars');
  wellFormed(t, stackedBars({ title: 'stages', xTitle: 'ns', xLabel: String, groups: [{ heading: 'depth 10', rows: [{ label: 'ours', parts: [{ name: 'parse', value: 1200, color: '#00f' }, { name: 'apply', value: -20, color: '#0f0' }], end: '1.2 µs' }] }] }), 'stacked bars');
});

function point(over: Partial<PointResult>): PointResult {
  const lat = { count: 1000, min: 90, p50: 200, p90: 400, p99: 900, p999: 2000, max: 3000, mean: 250, hdr: 'x' };
  return {
    id: 'r20000',
    kind: 'sweep',
    subject: 'engine',
    label: '20,000 frames/s',
    symbols: 50,
    rate: 20000,
    depth: 10,
    workers: 1,
    tickMs: 1,
    warmupS: 3,
    windowS: 10,
    mustBeLossless: false,
    profile: false,
    namespace: 'bench.x.r20000',
    ok: true,
    problems: [],
    windowSeconds: 10,
    framesInWindow: 200000,
    achievedRate: 20000,
    framesSent: 260000,
    liveRecords: 260000,
    republishedRecords: 500,
    recordsInWindow: 200000,
    lossless: true,
    shortSymbols: {},
    drainedMs: 120,
    drainComplete: true,
    othersBefore: 0,
    quietWaitMs: 1000,
    latencyUs: lat,
    splitAboveMinUs: null,
    exchange: { framesSkippedSlowClient: 0, slowClientResyncs: 0, generationToWriteUs: { ...lat, p50: 30, p99: 80 }, meanFramesPerWrite: 20, maxFramesPerWrite: 40 },
    engine: { pid: 1, cpuUsPerFrame: 20, cpuCores: 0.4, peakRssBytes: 120 * 2 ** 20, rssBytes: 110 * 2 ** 20, threads: 12, exitCode: 0, startupMs: 900 },
    cpu: { engine: 0.4, exchange: 0.4, subscriber: 0.2, nats: 0.2, machineBusy: 1.2, steal: 0, others: 0 },
    checks: {
      outOfOrder: 0,
      lost: 0,
      epochChanges: 0,
      resyncing: 0,
      nonLiveInWindow: 0,
      missingChecksum: 0,
      checksumMismatchesInLog: 0,
      simulatorFaults: [],
      engineChecksumFaults: [],
      engineErrorsInLog: 0,
      finalChecksumsCompared: 50,
      finalChecksumMismatches: 0,
      negativeLatency: 0,
      slowConsumer: 0,
    },
    profiles: [],
    ...over,
  };
}

t.test('the generated docs section and charts', async (t) => {
  const env = { date: '2026-11-26T20:00:00.000Z', cpu: 'AMD EPYC', cores: 2, node: 'v20.20.2', v8: '11', platform: 'Linux', commit: 'abc1234', dirty: false, loadavg: [0.1, 0.2, 0.3], totalMemGiB: 24, argv: [], natsServer: 'nats-server: v2.9', engine: 'dist', clockNote: '' };
  const r = {
    schema: 'aether-bench-e2e/1',
    env,
    config: { mode: 'full', natsUrl: 'nats://127.0.0.1:4222', symbols: 50, rates: [2000, 20000], losslessUpTo: 10000, workers: 1, depth: 10, warmupS: 3, windowS: 10, tickMs: 1, restamp: true, rephase: true, seed: 1, p99BoundUs: 1000, searchSteps: 0, burstPoint: false, floorRates: [20000], profilePoint: false, rssPoint: false, rssSymbols: 700, rssDepth: 100, rssRate: 7000, engine: 'dist', quietWaitS: 15, record: true, deadlineS: 540, write: true },
    targets: [
      { id: 'e2e-p50', text: 'end to end p50 at 20,000 frames/s, 50 instruments', measured: 200, target: 150, unit: 'µs', better: 'lower', pass: false, missBy: 200 / 150 - 1, point: 'r20000' },
      { id: 'e2e-p99', text: 'end to end p99 at 20,000 frames/s, 50 instruments', measured: 900, target: 1000, unit: 'µs', better: 'lower', pass: true, missBy: -0.1, point: 'r20000' },
    ],
    highestRateUnderP99Bound: { rate: 20000, achieved: 20000, point: 'r20000', belowAll: false, aboveAll: true },
    highestLosslessRate: { rate: 20000, point: 'r20000' },
    points: [point({ id: 'r2000', rate: 2000, achievedRate: 2000, label: '2,000 frames/s' }), point({}), point({ id: 'floor20000', kind: 'floor', subject: 'relay', label: 'null engine' })],
    failures: [],
    totalSeconds: 100,
  } as unknown as E2eResults;
  const md = renderE2eSection(r);
  t.ok(md.startsWith(E2E_BEGIN) && md.endsWith(E2E_END), 'between its markers');
  t.match(md, /\*\*MISS\*\* by 33 %/, 'a missed target says by how much');
  t.match(md, /\*\*PASS\*\*/, 'a passed target');
  t.match(md, /null engine/, 'the floor is explained');
  t.match(md, /gateway and the writer do not exist yet/, 'no placeholder numbers for what does not exist');
  t.match(md, /bench-latency\.svg/);
  wellFormed(t, latencySvg(r)!, 'latency chart');
  wellFormed(t, throughputSvg(r)!, 'throughput chart');

  const doc = join(dir, 'benchmarks.md');
  writeFileSync(doc, '# Benchmarks\n\n<!-- hotpath:begin x -->\nhot\n<!-- hotpath:end -->\n\n## Topology\n\nkept\n');
  updateDocSection(doc, E2E_BEGIN, E2E_END, md, '<!-- hotpath:end -->');
  let text = readFileSync(doc, 'utf8');
  t.ok(text.indexOf(E2E_BEGIN) > text.indexOf('<!-- hotpath:end -->') && text.indexOf(E2E_END) < text.indexOf('## Topology'), 'a new section goes after the hot path, before the rest');
  updateDocSection(doc, E2E_BEGIN, E2E_END, `${E2E_BEGIN}\nnew\n${E2E_END}`, '<!-- hotpath:end -->');
  text = readFileSync(doc, 'utf8');
  t.equal(text.split(E2E_BEGIN).length, 2, 'replaced, not duplicated');
  t.match(text, /\nnew\n/);
  t.match(text, /## Topology\n\nkept/, 'hand-written sections survive');
});
