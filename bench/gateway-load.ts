/**
 * `npm run bench:gateway` — load on the WebSocket gateway (engine/gateway/, /v1/stream):
 * 1,000 real WebSocket clients (the `ws` package) on loopback, a quarter of them slow, each
 * subscribed to 20 instruments' risk channels, against the engine on the simulated exchange.
 *
 *   exchange process   bench/e2e-exchange.ts: adapters/kraken-sim on a loopback port, book
 *        │  WebSocket  frames at --rate per instrument (default 20/s, a busy Kraken pair)
 *        ▼
 *   this process       the engine (startEngine in process: its worker thread + the main thread)
 *        │  WebSocket  and its gateway on the main thread (uWebSockets.js); the event-loop delay
 *        ▼             of that thread is measured here (perf_hooks.monitorEventLoopDelay)
 *   load processes     this file with --client (--procs of them): the fast clients (count what
 *                      they read) and the slow ones (pause reading)
 *   probe process      this file with --client: --probes fast clients that time every update
 *
 * Latency. The gateway puts no send time in its messages, and a risk record's own times
 * (`recvTimeUs`) are the worker's frame receive, which reaches the main thread only with the
 * worker's 250 ms report. So the bench stamps the hand-off itself: this process wraps the
 * engine feed's `emit` (a bench-side hook on the instance; nothing in the engine changes) and
 * keeps, for every risk record handed to the gateway, (symbol, record seq) → CLOCK_MONOTONIC µs.
 * Probe clients stamp each socket read (a `data` listener that runs before `ws` parses the
 * chunk) and note (symbol, record seq, stamp) for every update `ws` then delivers; after the
 * window the table goes to the probes, which match and fill an HDR histogram.
 * CLOCK_MONOTONIC (`process.hrtime`) is one clock for every process on the machine
 * (bench/e2e-common.ts). The figure is "gateway hand-off → bytes read by the client": the
 * fan-out over all 1,000 subscribers (a probe's place in it is spread by connecting the probes
 * between the other clients), uWS's writes, the loopback and the probe's wake-up. The same
 * stamped at the `ws` message callback is printed too, and, for context, worker frame
 * receive → callback (includes the 250 ms report interval).
 *
 * Why probes. On 2 cores, a client process that times 375 sockets itself reads a 7,500-message
 * burst (one report × 20 instruments × 375 clients) one socket after the other: the last read
 * waits for every parse before it, tens of ms that are the load generator's, not the gateway's.
 * So the many fast clients only count what they read (`ws` still parses every frame), and the
 * timing is done by a few probes in a process of their own.
 *
 * Slow clients stop reading once subscribed (`ws.pause()`: the socket is not read and TCP backs
 * up to the gateway), the worst case of a frozen consumer. With --slow-read-ms > 0 they read
 * for that long after every --slow-pause-ms instead (phases staggered). A client the gateway
 * closes (4001, slow consumer) reconnects after a second, as the dashboard does.
 *
 * Two cores. The exchange, the engine's worker thread, the gateway thread and the client
 * processes all share this machine's two cores, so the gateway competes with its own load
 * generator; the CPU shares printed at the end say how busy the machine was.
 *
 * Bounded: connect + warm-up + --duration s (default 20) of measurement; a watchdog ends the
 * run after 90 s + 3 × the duration. Loopback only. Targets (fast-client p99 < 20 ms, event-loop delay p99
 * < 20 ms) are printed PASS/MISS from the measured numbers. Exit code 0 when the run completed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { systemClock } from '../engine/clock.js';
import { IpcClient, latencyHistogram, machineCpu, monoUs, procCpuUs, serveIpc, sleep, summarize, type LatencySummary } from './e2e-common.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');

// =====================================================================================
// Client processes (--client): load or probe
// =====================================================================================

interface ClientInit {
  url: string;
  channels: string[];
  probe: boolean;
  slowPauseMs: number;
  slowReadMs: number;
}

interface Counts {
  opened: number;
  subscribed: number;
  /** Probes: messages whose per-channel `seq` was not the previous one + 1. */
  seqGaps: number;
  messages: number;
  updates: number;
  conflated: number;
  slowBytes: number;
  closes: Record<string, number>;
  errors: number;
  reconnects: number;
}

const B_SUBSCRIBED = Buffer.from('{"type":"subscribed"');
const B_UPDATE = Buffer.from('{"type":"update"');
const B_SNAPSHOT = Buffer.from('{"type":"snapshot"');
const B_CONFLATED = Buffer.from('"conflated":true');
const B_DATA = Buffer.from('"data":{');
const B_SYMBOL = Buffer.from('"symbol":"');
const B_SEQ = Buffer.from('"seq":');
const B_RECV = Buffer.from('"recvTimeUs":');

const startsWith = (buf: Buffer, prefix: Buffer) => buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;

function readInt(buf: Buffer, at: number): number {
  let v = 0;
  for (let i = at; i < buf.length; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return v;
}

/* Epoch µs from engine/clock.ts (anchored per process the same way), so it compares with the worker's recvTimeUs. */
const epochNowUs = () => systemClock.nowUs();

function runClient(): void {
  let init: ClientInit | null = null;
  const counts: Counts = { opened: 0, subscribed: 0, seqGaps: 0, messages: 0, updates: 0, conflated: 0, slowBytes: 0, closes: {}, errors: 0, reconnects: 0 };
  const sockets: { ws: WebSocket; slow: boolean; phase: number; subscribed: boolean }[] = [];
  let stopping = false;
  let recording = false;
  let slowTimer: NodeJS.Timeout | null = null;

  // Probe samples: (symbol index, record seq, read stamp µs, callback stamp µs) per update.
  const symbolIndex = new Map<string, number>();
  let samples = new Float64Array(4 << 14);
  let nSamples = 0;
  const sourceLatency = latencyHistogram();
  const push = (sym: number, seq: number, readUs: number, cbUs: number) => {
    if (nSamples * 4 + 4 > samples.length) {
      const next = new Float64Array(samples.length * 2);
      next.set(samples);
      samples = next;
    }
    const k = nSamples * 4;
    samples[k] = sym;
    samples[k + 1] = seq;
    samples[k + 2] = readUs;
    samples[k + 3] = cbUs;
    nSamples++;
  };

  const onProbeUpdate = (buf: Buffer, readUs: number) => {
    const cbUs = monoUs();
    const d = buf.indexOf(B_DATA);
    if (d < 0) return;
    const s = buf.indexOf(B_SYMBOL, d) + B_SYMBOL.length;
    const e = buf.indexOf(34, s);
    const symbol = buf.toString('latin1', s, e);
    let idx = symbolIndex.get(symbol);
    if (idx === undefined) symbolIndex.set(symbol, (idx = symbolIndex.size));
    const q = buf.indexOf(B_SEQ, e);
    push(idx, readInt(buf, q + B_SEQ.length), readUs, cbUs);
    const r = buf.indexOf(B_RECV, q);
    if (r > 0) {
      const recvUs = readInt(buf, r + B_RECV.length);
      if (recvUs > 0) sourceLatency.recordValue(Math.max(1, Math.round(epochNowUs() - recvUs)));
    }
  };

  const open = (slow: boolean, phase: number, slot: number, onSubscribed: (() => void) | null) => {
    const p = init!;
    // The probe's stamp: taken when a chunk is read, before `ws` parses the messages in it.
    let readUs = 0;
    const ws = new WebSocket(p.url, {
      perMessageDeflate: false,
      createConnection: p.probe
        ? (opts: net.NetConnectOpts) => {
            const s = net.connect(opts);
            s.on('data', () => (readUs = monoUs()));
            return s;
          }
        : undefined,
    } as WebSocket.ClientOptions);
    const entry = { ws, slow, phase, subscribed: false };
    const lastSeq = new Map<string, number>(); // probes: per channel, the envelope's last seq
    sockets[slot] = entry;
    ws.on('open', () => {
      counts.opened++;
      ws.send(JSON.stringify({ op: 'subscribe', id: 1, channels: p.channels }));
    });
    ws.on('message', (buf: Buffer) => {
      if (!entry.subscribed) {
        if (startsWith(buf, B_SUBSCRIBED)) {
          entry.subscribed = true;
          counts.subscribed++;
          if (onSubscribed !== null) {
            onSubscribed();
            onSubscribed = null;
          }
        }
        return;
      }
      if (slow) {
        counts.slowBytes += buf.length;
        return;
      }
      counts.messages++;
      if (!startsWith(buf, B_UPDATE)) {
        if (p.probe && startsWith(buf, B_SNAPSHOT)) {
          const c = buf.indexOf(34, 30);
          lastSeq.set(buf.toString('latin1', 30, c), readInt(buf, c + 8));
        }
        return;
      }
      counts.updates++;
      // The envelope's flags come before "data" (engine/gateway/protocol.ts envelopeJson).
      if (buf.subarray(0, 160).indexOf(B_CONFLATED) >= 0) counts.conflated++;
      if (p.probe) {
        // {"type":"update","channel":"risk.X/Y","seq":N,… (engine/gateway/protocol.ts envelopeJson)
        const c = buf.indexOf(34, 28);
        const channel = buf.toString('latin1', 28, c);
        const seq = readInt(buf, c + 8);
        const prev = lastSeq.get(channel);
        if (prev !== undefined && seq !== prev + 1) counts.seqGaps++;
        lastSeq.set(channel, seq);
        if (recording) onProbeUpdate(buf, readUs);
      }
    });
    ws.on('error', () => void counts.errors++);
    ws.on('close', (code: number) => {
      if (entry.subscribed) counts.subscribed--;
      counts.closes[code] = (counts.closes[code] ?? 0) + 1;
      if (stopping) return;
      setTimeout(() => {
        if (stopping) return;
        counts.reconnects++;
        open(slow, phase, slot, null);
      }, 1000);
    });
  };

  serveIpc(async (msg) => {
    switch (msg.type) {
      case 'init': {
        init = msg.init as ClientInit;
        const cycle = init.slowPauseMs + init.slowReadMs;
        // Slow clients: paused, except for --slow-read-ms in every cycle (phases staggered).
        slowTimer = setInterval(() => {
          const now = Date.now();
          for (const s of sockets) {
            if (s === undefined || !s.slow || !s.subscribed || s.ws.readyState !== WebSocket.OPEN) continue;
            const reading = (now + s.phase) % cycle >= init!.slowPauseMs;
            if (reading && s.ws.isPaused) s.ws.resume();
            else if (!reading && !s.ws.isPaused) s.ws.pause();
          }
        }, 50);
        return {};
      }
      case 'connect': {
        // Open `fast` then `slow` clients and answer once each one's subscription is in place,
        // so the caller controls the order in which the gateway fans out to them.
        const fast = msg.fast as number;
        const slow = msg.slow as number;
        const cycle = init!.slowPauseMs + init!.slowReadMs;
        const done: Promise<void>[] = [];
        for (let i = 0; i < fast + slow; i++) {
          const isSlow = i >= fast;
          done.push(new Promise<void>((resolve) => open(isSlow, isSlow ? Math.floor(Math.random() * cycle) : 0, sockets.length, resolve)));
        }
        await Promise.race([Promise.all(done), sleep(20_000)]);
        return { counts };
      }
      case 'status':
        return { counts, cpuUs: procCpuUs(process.pid) };
      case 'record':
        recording = msg.on === true;
        if (recording) {
          nSamples = 0;
          sourceLatency.reset();
        }
        return { counts: structuredClone(counts) };
      case 'report': {
        // emits: symbol → [seq, µs, seq, µs, …], as handed to the gateway.
        const emits = msg.emits as Record<string, number[]>;
        const bySymbol: Map<number, number>[] = [];
        for (const [symbol, idx] of symbolIndex) {
          const m = new Map<number, number>();
          const flat = emits[symbol] ?? [];
          for (let i = 0; i < flat.length; i += 2) m.set(flat[i]!, flat[i + 1]!);
          bySymbol[idx] = m;
        }
        const read = latencyHistogram();
        const callback = latencyHistogram();
        let unmatched = 0;
        for (let i = 0; i < nSamples; i++) {
          const k = i * 4;
          const emitted = bySymbol[samples[k]!]?.get(samples[k + 1]!);
          if (emitted === undefined) {
            unmatched++;
            continue;
          }
          read.recordValue(Math.max(1, Math.round(samples[k + 2]! - emitted)));
          callback.recordValue(Math.max(1, Math.round(samples[k + 3]! - emitted)));
        }
        return {
          read: hdr.encodeIntoCompressedBase64(read),
          callback: hdr.encodeIntoCompressedBase64(callback),
          source: hdr.encodeIntoCompressedBase64(sourceLatency),
          unmatched,
          counts,
        };
      }
      case 'stop':
        stopping = true;
        if (slowTimer !== null) clearInterval(slowTimer);
        for (const s of sockets) s?.ws.terminate();
        return {};
      default:
        throw new Error(`unknown request ${msg.type}`);
    }
  });
}

// =====================================================================================
// Orchestrator (this process also hosts the engine and its gateway)
// =====================================================================================

function metricValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Memory the kernel holds in TCP socket buffers, machine-wide (/proc/net/sockstat, pages). */
function kernelTcpBytes(): number {
  try {
    const m = /^TCP:.*\bmem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
    return m === null ? NaN : Number(m[1]) * 4096;
  } catch {
    return NaN;
  }
}

const ms = (us: number) => (us / 1000).toFixed(2);
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

async function runOrchestrator(): Promise<void> {
  const { values: o } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      clients: { type: 'string', default: '1000' },
      'slow-fraction': { type: 'string', default: '0.25' },
      probes: { type: 'string', default: '25' },
      symbols: { type: 'string', default: '20' },
      rate: { type: 'string', default: '20' },
      procs: { type: 'string', default: '2' },
      'slow-pause-ms': { type: 'string', default: '4000' },
      'slow-read-ms': { type: 'string', default: '0' },
      'eld-resolution-ms': { type: 'string', default: '2' },
      json: { type: 'string' },
    },
  });
  const n = (k: keyof typeof o) => {
    const v = Number(o[k]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a number ≥ 0`);
    return v;
  };
  const DURATION_S = n('duration');
  const WARMUP_S = n('warmup');
  const CLIENTS = Math.round(n('clients'));
  const SLOW = Math.round(CLIENTS * n('slow-fraction'));
  const PROBES = Math.max(1, Math.min(CLIENTS - SLOW, Math.round(n('probes'))));
  const SYMBOLS = Math.max(1, Math.round(n('symbols')));
  const RATE = n('rate');
  const PROCS = Math.max(1, Math.round(n('procs')));
  const ELD_RES = Math.max(1, Math.round(n('eld-resolution-ms')));
  // Generous: when the gateway thread saturates, its timers (and so the window's end) run late.
  const LIMIT_S = 90 + WARMUP_S + 3 * DURATION_S;
  const watchdog = setTimeout(() => {
    console.error(`gateway-load: not finished within ${LIMIT_S} s: aborting`);
    process.exit(2);
  }, LIMIT_S * 1000);
  watchdog.unref();

  const children: ChildProcess[] = [];
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const forkChild = (file: string, args: string[], name: string) => {
    const c = fork(join(ROOT, 'bench', file), args, { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_OPTIONS: '' } });
    children.push(c);
    return new IpcClient(name, c);
  };

  const loadavg = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log('# gateway load (npm run bench:gateway)');
  console.log(`${new Date().toISOString()} · ${cpuModel} × ${os.availableParallelism()} · node ${process.version} · load average ${loadavg}`);
  console.log(
    `${CLIENTS} clients: ${CLIENTS - SLOW} fast (${PROBES} of them timing probes) and ${SLOW} slow (${n('slow-read-ms') === 0 ? 'not reading at all' : `paused ${o['slow-pause-ms']} ms, reading ${o['slow-read-ms']} ms`}) · ` +
      `${PROCS} load processes + 1 probe process · ${SYMBOLS} instruments × ${RATE} book frames/s · warm-up ${WARMUP_S} s · window ${DURATION_S} s`,
  );

  // ---- exchange (a process of its own: it does not share the gateway's thread)
  const exchange = forkChild('e2e-exchange.ts', [], 'exchange');
  const ex = await exchange.request<{ url: string; symbols: string[]; pid: number }>('start', { symbols: SYMBOLS, ratePerSymbol: RATE, seed: 7, restamp: false, tickMs: 5 });

  // ---- engine + gateway in this process
  const { loadConfig } = await import('../engine/config.js');
  const { startEngine } = await import('../engine/runtime.js');
  const { createLogger } = await import('../engine/logger.js');
  const { riskChannel } = await import('../engine/gateway/index.js');
  const config = loadConfig({
    env: {},
    overrides: {
      natsUrl: null,
      logLevel: 'warn',
      logSummaryMs: 0,
      bookDepth: 10,
      port: 0,
      gatewayHost: '127.0.0.1',
      gatewayMaxConnections: CLIENTS + 100,
      gatewayMaxConnectionsPerIp: CLIENTS + 100,
    },
  });
  const engine = await startEngine(config, createLogger({ level: config.logLevel }), { krakenUrl: ex.url, symbols: ex.symbols, simulated: true });
  if (engine.gateway === null) throw new Error('the engine started without its gateway');
  const port = engine.gateway.port;
  const t0 = Date.now();
  while (!ex.symbols.every((s) => engine.supervisor.latest.get(s)?.health === 'LIVE')) {
    if (Date.now() - t0 > 30_000) throw new Error('instruments not LIVE within 30 s');
    await sleep(100);
  }
  await exchange.request('rephase', { seed: 11 });

  // The hand-off stamp: every risk record the feed gives the gateway, with its monotonic time.
  const emits = new Map<string, number[]>();
  let stamping = false;
  const feed = engine.feed as unknown as { emit(kind: string, value: unknown): void };
  const emit = feed.emit.bind(feed);
  feed.emit = (kind: string, value: unknown) => {
    if (stamping && kind === 'risk') {
      const t = monoUs();
      for (const r of value as { symbol: string; seq: number }[]) {
        let a = emits.get(r.symbol);
        if (a === undefined) emits.set(r.symbol, (a = []));
        a.push(r.seq, t);
      }
    }
    emit(kind, value);
  };

  const eld = monitorEventLoopDelay({ resolution: ELD_RES });
  eld.enable();
  const rss = () => process.memoryUsage().rss;
  const rssIdle = rss();
  const metricsText = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

  // ---- clients, connected in rounds: a batch of load clients, then one probe, so the probes
  // sit at evenly spread places in the gateway's fan-out order.
  const channels = ex.symbols.slice(0, 20).map((s) => riskChannel(s));
  const init = (probe: boolean): ClientInit => ({ url: `ws://127.0.0.1:${port}/v1/stream`, channels, probe, slowPauseMs: n('slow-pause-ms'), slowReadMs: n('slow-read-ms') });
  const loads: IpcClient[] = [];
  for (let i = 0; i < PROCS; i++) loads.push(forkChild('gateway-load.ts', ['--client'], `load-${i}`));
  const prober = forkChild('gateway-load.ts', ['--client'], 'probe');
  await Promise.all([...loads.map((c) => c.request('init', { init: init(false) })), prober.request('init', { init: init(true) })]);
  const tc = Date.now();
  const fastLoad = CLIENTS - SLOW - PROBES;
  const split = (total: number, parts: number, i: number) => Math.floor(total / parts) + (i < total % parts ? 1 : 0);
  for (let round = 0; round < PROBES; round++) {
    const f = split(fastLoad, PROBES, round);
    const s = split(SLOW, PROBES, round);
    await Promise.all(loads.map((c, i) => c.request('connect', { fast: split(f, PROCS, i), slow: split(s, PROCS, i) }, 30_000)));
    await prober.request('connect', { fast: 1, slow: 0 }, 30_000);
  }
  const all = [...loads, prober];
  const status = async () => Promise.all(all.map((c) => c.request<{ counts: Counts; cpuUs: number }>('status')));
  const subscribedNow = (await status()).reduce((a, x) => a + x.counts.subscribed, 0);
  if (subscribedNow < CLIENTS) throw new Error(`only ${subscribedNow} of ${CLIENTS} clients subscribed`);
  const connectS = (Date.now() - tc) / 1000;
  const rssConnected = rss();
  console.log(`${CLIENTS} clients connected and subscribed in ${connectS.toFixed(1)} s; warming up ${WARMUP_S} s`);
  await sleep(WARMUP_S * 1000);

  // ---- window
  const m0 = metricValues(await metricsText());
  emits.clear();
  stamping = true;
  const before = await Promise.all(all.map((c) => c.request<{ counts: Counts }>('record', { on: true })));
  eld.reset();
  const pids = all.map((c) => c.child.pid!);
  const cpu0 = { own: process.cpuUsage(), machine: machineCpu(), clients: pids.map((p) => procCpuUs(p) ?? 0), exchange: procCpuUs(ex.pid) ?? 0 };
  const rssStart = rss();
  const kernelStart = kernelTcpBytes();
  const rssSamples: number[] = [];
  const w0 = Date.now();
  while (Date.now() - w0 < DURATION_S * 1000) {
    await sleep(Math.min(1000, DURATION_S * 1000 - (Date.now() - w0)));
    rssSamples.push(rss());
  }
  const windowS = (Date.now() - w0) / 1000;
  const eldRaw = { p50: eld.percentile(50), p90: eld.percentile(90), p99: eld.percentile(99), p999: eld.percentile(99.9), max: eld.max, count: eld.count };
  const cpu1 = { own: process.cpuUsage(cpu0.own), machine: machineCpu(), clients: pids.map((p) => procCpuUs(p) ?? 0), exchange: procCpuUs(ex.pid) ?? 0 };
  stamping = false;
  const after = await Promise.all(all.map((c) => c.request<{ counts: Counts }>('record', { on: false })));
  eld.disable();
  const m1 = metricValues(await metricsText());
  const rssEnd = rss();
  const kernelEnd = kernelTcpBytes();
  const info = engine.gateway.hub.info();
  const bufferedTotal = info.reduce((a, c) => a + c.buffered, 0);
  const bufferedMax = info.reduce((a, c) => Math.max(a, c.buffered), 0);
  const inLatest = info.filter((c) => c.latest).length;

  const report = await prober.request<{ read: string; callback: string; source: string; unmatched: number; counts: Counts }>('report', { emits: Object.fromEntries(emits) }, 60_000);
  await Promise.all(all.map((c) => c.request('stop')));
  await sleep(500);
  const rssAfterClose = rss();
  for (const c of all) c.child.kill('SIGTERM');
  await engine.stop();
  await exchange.request('stop').catch(() => undefined);
  exchange.child.kill('SIGTERM');

  // ---- figures
  const dec = (b64: string) => hdr.decodeFromCompressedBase64(b64, 32, false);
  const read = summarize(dec(report.read));
  const callback = summarize(dec(report.callback));
  const source = summarize(dec(report.source));
  // monitorEventLoopDelay records the interval between its timer's runs, resolution included.
  const eldMs = (ns: number) => Math.max(0, ns / 1e6 - ELD_RES);
  const eldP = { p50: eldMs(eldRaw.p50), p90: eldMs(eldRaw.p90), p99: eldMs(eldRaw.p99), p999: eldMs(eldRaw.p999), max: eldMs(eldRaw.max) };
  const delta = (name: string) => (m1.get(name) ?? 0) - (m0.get(name) ?? 0);
  const handed = delta('aether_gateway_updates_total{kind="risk"}');
  const sent = delta('aether_gateway_messages_sent_total');
  const machineBusy = cpu0.machine !== null && cpu1.machine !== null ? (cpu1.machine.busyUs - cpu0.machine.busyUs) / (cpu1.machine.totalUs - cpu0.machine.totalUs) : NaN;
  const ownCpu = (cpu1.own.user + cpu1.own.system) / (windowS * 1e6);
  const clientCpu = cpu1.clients.map((c, i) => (c - cpu0.clients[i]!) / (windowS * 1e6));
  const exchangeCpu = (cpu1.exchange - cpu0.exchange) / (windowS * 1e6);
  const sum = (k: 'updates' | 'conflated' | 'slowBytes', from: { counts: Counts }[], to: { counts: Counts }[]) => to.reduce((a, x, i) => a + x.counts[k] - from[i]!.counts[k], 0);
  const fastUpdates = sum('updates', before, after);
  const fastConflated = sum('conflated', before, after);
  const slowBytes = sum('slowBytes', before, after);
  const closes: Record<string, number> = {};
  for (const x of after) for (const [k, v] of Object.entries(x.counts.closes)) closes[k] = (closes[k] ?? 0) + v;
  const reconnects = after.reduce((a, x) => a + x.counts.reconnects, 0);
  const errors = after.reduce((a, x) => a + x.counts.errors, 0);
  const expectedFast = handed * (CLIENTS - SLOW); // every risk update to every fast client
  const rssMax = Math.max(rssStart, ...rssSamples);
  const half = Math.max(1, Math.floor(rssSamples.length / 2));
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const rssFirstHalf = avg(rssSamples.slice(0, half));
  const rssSecondHalf = avg(rssSamples.slice(half));
  const verdict = (v: number, target: number) => (v < target ? 'PASS' : 'MISS');

  console.log('');
  console.log(`window ${windowS.toFixed(1)} s: ${handed} risk updates handed to the gateway (${(handed / windowS).toFixed(0)}/s); ${sent} messages sent (${(sent / windowS).toFixed(0)}/s)`);
  console.log(`fast clients read ${fastUpdates} updates of the ${expectedFast} fanned out to them (${pct(fastUpdates / Math.max(1, expectedFast))}); ${fastConflated} marked conflated; slow clients read ${mib(slowBytes)} MiB`);
  console.log('');
  console.log('| ms | p50 | p90 | p99 | p99.9 | max | samples |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(`| fast-client delivery: gateway hand-off → bytes read by the probe | ${ms(read.p50)} | ${ms(read.p90)} | ${ms(read.p99)} | ${ms(read.p999)} | ${ms(read.max)} | ${read.count} |`);
  console.log(`| the same, to the probe's \`ws\` message callback | ${ms(callback.p50)} | ${ms(callback.p90)} | ${ms(callback.p99)} | ${ms(callback.p999)} | ${ms(callback.max)} | ${callback.count} |`);
  console.log(`| gateway event-loop delay (timer every ${ELD_RES} ms) | ${eldP.p50.toFixed(2)} | ${eldP.p90.toFixed(2)} | ${eldP.p99.toFixed(2)} | ${eldP.p999.toFixed(2)} | ${eldP.max.toFixed(2)} | ${eldRaw.count} |`);
  console.log(`| context: worker frame receive → callback (incl. the 250 ms worker report) | ${ms(source.p50)} | ${ms(source.p90)} | ${ms(source.p99)} | ${ms(source.p999)} | ${ms(source.max)} | ${source.count} |`);
  console.log('');
  console.log(`target fast-client delivery p99 < 20 ms: ${ms(read.p99)} ms — ${verdict(read.p99 / 1000, 20)}`);
  console.log(`target gateway event-loop delay p99 < 20 ms: ${eldP.p99.toFixed(2)} ms — ${verdict(eldP.p99, 20)}`);
  console.log('');
  console.log(
    `memory, engine + gateway process RSS (MiB): idle ${mib(rssIdle)} → ${CLIENTS} connected ${mib(rssConnected)} → window start ${mib(rssStart)}, ` +
      `max ${mib(rssMax)}, end ${mib(rssEnd)} (means of the window's halves ${mib(rssFirstHalf)} and ${mib(rssSecondHalf)}) → clients gone ${mib(rssAfterClose)}`,
  );
  console.log(`gateway send buffers at the end: ${mib(bufferedTotal)} MiB in all, largest ${(bufferedMax / 1024).toFixed(0)} KiB; ${inLatest} clients in latest-value mode; kernel TCP buffers (machine-wide) ${mib(kernelStart)} → ${mib(kernelEnd)} MiB over the window`);
  console.log(
    `/metrics over the window: conflations ${delta('aether_gateway_conflations_total')} · updates conflated under backpressure ${delta('aether_gateway_conflated_updates_total{cause="backpressure"}')} · ` +
      `slow-client closes ${delta('aether_gateway_slow_client_closes_total')} · uWS drops ${delta('aether_gateway_send_dropped_total')}`,
  );
  console.log(`clients: closes by code ${JSON.stringify(closes)} · reconnects ${reconnects} · errors ${errors} · probe updates without a hand-off stamp ${report.unmatched} · sequence gaps at the probes ${report.counts.seqGaps}`);
  console.log(
    `CPU over the window: machine ${pct(machineBusy)} of ${os.availableParallelism()} cores · engine + gateway process ${pct(ownCpu)} of one core (its worker thread included) · ` +
      `load processes ${clientCpu.slice(0, PROCS).map(pct).join(' + ')} · probe process ${pct(clientCpu[PROCS]!)} · exchange ${pct(exchangeCpu)}`,
  );

  const strip = (s: LatencySummary) => ({ count: s.count, p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, max: s.max, mean: s.mean });
  const result = {
    date: new Date().toISOString(),
    cpuModel,
    cores: os.availableParallelism(),
    node: process.version,
    loadavg,
    params: { clients: CLIENTS, slow: SLOW, probes: PROBES, procs: PROCS, symbols: SYMBOLS, rate: RATE, durationS: DURATION_S, warmupS: WARMUP_S, slowPauseMs: n('slow-pause-ms'), slowReadMs: n('slow-read-ms'), eldResolutionMs: ELD_RES },
    windowS,
    latencyUs: { read: strip(read), callback: strip(callback), sourceToCallback: strip(source) },
    eventLoopDelayMs: eldP,
    rssMiB: { idle: +mib(rssIdle), connected: +mib(rssConnected), windowStart: +mib(rssStart), max: +mib(rssMax), end: +mib(rssEnd), firstHalf: +mib(rssFirstHalf), secondHalf: +mib(rssSecondHalf), afterClose: +mib(rssAfterClose) },
    gateway: {
      handed,
      sent,
      conflations: delta('aether_gateway_conflations_total'),
      conflatedBackpressure: delta('aether_gateway_conflated_updates_total{cause="backpressure"}'),
      slowClientCloses: delta('aether_gateway_slow_client_closes_total'),
      sendDropped: delta('aether_gateway_send_dropped_total'),
      bufferedTotal,
      bufferedMax,
      inLatest,
      kernelTcpBytes: { windowStart: kernelStart, end: kernelEnd },
    },
    clients: { fastUpdates, expectedFast, fastConflated, slowBytes, closes, reconnects, errors, unmatched: report.unmatched, probeSeqGaps: report.counts.seqGaps },
    cpu: { machine: machineBusy, engine: ownCpu, clients: clientCpu, exchange: exchangeCpu },
    targets: { deliveryP99Ms: { target: 20, value: read.p99 / 1000, pass: read.p99 / 1000 < 20 }, eventLoopDelayP99Ms: { target: 20, value: eldP.p99, pass: eldP.p99 < 20 } },
  };
  const out = o.json ?? join(ROOT, 'bench', 'results', 'tmp', 'gateway-load.json');
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2));
  console.log(`\nresults: ${out}`);
  clearTimeout(watchdog);
  process.exit(0);
}

if (process.argv.includes('--client')) runClient();
else
  runOrchestrator().catch((err: Error) => {
    console.error(`gateway-load failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });
