/**
 * Child process of bench/e2e.ts: hosts the simulated Kraken exchange (adapters/kraken-sim)
 * on a loopback port and answers the orchestrator over IPC (start, stats, stall, stop).
 *
 * Two bench-side instruments, both reported in the results:
 *
 * - **Send-time stamps** (`restamp`, on by default). The simulator stamps each book frame
 *   with the time it *generated* it, then writes all frames of a tick in one socket write at
 *   the end of the tick. The end-to-end latency must start at the send, so every book frame
 *   that leaves in a socket write gets that write's time in its `timestamp` field (same
 *   length, so the WebSocket framing is untouched; the checksum does not cover the
 *   timestamp). The hook wraps `net.Socket.prototype.write` in this process only (the only
 *   sockets here are the exchange's) and measures the generation → write delay it removes.
 *   It also counts the book frames sent per symbol and remembers the last checksum sent per
 *   symbol, which the orchestrator compares with what the subscriber received.
 * - **Recording** (`record`: a file, normally on /dev/shm). Every batch written is appended
 *   to it as it went on the wire (one `writeSync` per tick). Nobody reads it unless the
 *   engine reports a checksum mismatch: then bench/e2e-verify.ts replays that symbol's frames
 *   through an independent reference book to tell an engine fault from a frame the exchange
 *   sent inconsistently (docs/benchmarks.md, "Simulator faults").
 * - **Tick period** (`tickMs`). The simulator generates and writes frames every 5 ms; with
 *   `tickMs` ≠ 5 its timer is replaced by one of that period (its rate loop credits elapsed
 *   time, so any period gives the same rate; only the burst size changes).
 *
 * - **Phases** (`rephase`, after the engine has subscribed). The simulator's rate loop credits
 *   every market `rate × elapsed` from `due = 0` when it becomes active, so markets that
 *   became active together emit on the same tick: N symbols at r frames/s each arrive as
 *   bursts of N frames every 1/r s, not as N·r frames/s spread out. The bench gives each
 *   active market a seeded random phase (`due` in [0, 1)) so frames spread over the ticks.
 *
 * All three reach into the simulator from outside; docs/benchmarks.md recommends the
 * options (`tickMs`, stamp at send, random phases) for adapters/kraken-sim itself.
 */
import { closeSync, createWriteStream, openSync, writeSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import { defaultSimPairs, startSimExchange, type SimExchange } from '../adapters/kraken-sim/index.js';
import { epochOffsetUs, epochUs, latencyHistogram, parseStampUs, serveIpc, summarize } from './e2e-common.js';
import { Prng } from './generator.js';

const SIM_TICK_MS = 5;

let sim: SimExchange | null = null;
let tickMs = SIM_TICK_MS;

// ------------------------------------------------------------------ send-time stamps

const BOOK_PREFIX = Buffer.from('{"channel":"book","type":"');
const SYMBOL_KEY = Buffer.from('"data":[{"symbol":"');
const TS_KEY = Buffer.from('"timestamp":"');
const TS_LEN = 27; // 2026-08-16T23:37:03.745044Z
const TAIL = 4; // "}]}

let restamp = false;
/** Debugging aid: E2E_CAPTURE=FILE writes every book frame sent (after restamping), one per line. */
const capture: WriteStream | null = process.env.E2E_CAPTURE ? createWriteStream(process.env.E2E_CAPTURE) : null;
const genDelay = latencyHistogram();
const hook = {
  /** Socket writes that carried book frames (one per tick and connection). */
  writes: 0,
  /** Book frames seen in them. */
  frames: 0,
  maxFramesPerWrite: 0,
  unparsed: 0,
};
const lastChecksum = new Map<string, number>();
const framesBySymbol = new Map<string, number>();
let recordFd: number | null = null;
let recordedBytes = 0;

let cachedSec = -1;
let cachedPrefix = '';
function stampText(us: number): string {
  const sec = Math.floor(us / 1e6);
  if (sec !== cachedSec) {
    cachedSec = sec;
    cachedPrefix = new Date(sec * 1000).toISOString().slice(0, 19);
  }
  const frac = String(Math.floor(us - sec * 1e6));
  return `${cachedPrefix}.${'000000'.slice(frac.length)}${frac}Z`;
}

function startsWith(buf: Buffer, at: number, lit: Buffer): boolean {
  if (at + lit.length > buf.length) return false;
  for (let i = 0; i < lit.length; i++) if (buf[at + i] !== lit[i]) return false;
  return true;
}

/**
 * Look at one outgoing batch of WebSocket frames (server frames: unmasked): restamp every book
 * frame with the time of this write, count it per symbol, remember its checksum, record the
 * batch. Anything that is not a whole batch of text frames (ws's own writes for replies,
 * HTTP upgrade responses) is left alone.
 */
function onBatch(buf: Buffer): void {
  if (buf.length < 2 || buf[0] !== 0x81) return;
  let now = -1;
  let stamp = '';
  let frames = 0;
  let o = 0;
  while (o < buf.length) {
    if (buf[o] !== 0x81 || o + 2 > buf.length) return;
    let len = buf[o + 1]!;
    let p = o + 2;
    if (len === 126) {
      if (p + 2 > buf.length) return;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (p + 8 > buf.length) return;
      len = buf.readUInt32BE(p + 4);
      p += 8;
    }
    const end = p + len;
    if (end > buf.length) return; // a partial frame: not one of the exchange's batches
    o = end;
    if (!startsWith(buf, p, BOOK_PREFIX)) continue;
    const ts = end - TAIL - TS_LEN;
    if (!startsWith(buf, ts - TS_KEY.length, TS_KEY)) {
      hook.unparsed++;
      continue;
    }
    if (restamp) {
      if (now < 0) {
        now = epochUs();
        stamp = stampText(now);
      }
      const generated = parseStampUs(buf, ts);
      genDelay.recordValue(Math.max(0, Math.round(now - generated)));
      buf.write(stamp, ts, TS_LEN, 'latin1');
    }
    frames++;
    // symbol and checksum, for the end-to-end checks
    const s0 = buf.indexOf(SYMBOL_KEY, p);
    const c1 = ts - TS_KEY.length - 1; // the ',' before "timestamp"
    let c0 = c1;
    while (c0 > p && buf[c0 - 1] !== 0x3a) c0--; // back to the ':' of "checksum":
    if (s0 < 0 || s0 > end || c0 === c1) {
      hook.unparsed++;
      continue;
    }
    const sStart = s0 + SYMBOL_KEY.length;
    const sEnd = buf.indexOf(0x22, sStart);
    let ck = 0;
    for (let i = c0; i < c1; i++) ck = ck * 10 + (buf[i]! - 48);
    const sym = buf.toString('latin1', sStart, sEnd);
    lastChecksum.set(sym, ck);
    framesBySymbol.set(sym, (framesBySymbol.get(sym) ?? 0) + 1);
    capture?.write(buf.toString('latin1', p, end) + '\n');
  }
  if (frames === 0) return;
  if (recordFd !== null) {
    writeSync(recordFd, buf);
    recordedBytes += buf.length;
  }
  hook.writes++;
  hook.frames += frames;
  if (frames > hook.maxFramesPerWrite) hook.maxFramesPerWrite = frames;
}

const originalWrite = net.Socket.prototype.write;
function installHook(): void {
  net.Socket.prototype.write = function write(this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    if (Buffer.isBuffer(chunk)) onBatch(chunk);
    return (originalWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof originalWrite;
}

// ------------------------------------------------------------------ tick period

function setTickPeriod(s: SimExchange, ms: number): void {
  if (ms === SIM_TICK_MS) return;
  const internals = s as unknown as { tickTimer?: NodeJS.Timeout | null; tick?: () => void };
  if (typeof internals.tick !== 'function' || internals.tickTimer == null) {
    throw new Error(`this kraken-sim has no tick()/tickTimer to re-time; run with E2E_TICK_MS=${SIM_TICK_MS}`);
  }
  clearInterval(internals.tickTimer);
  internals.tickTimer = setInterval(() => internals.tick!(), ms);
}

// ------------------------------------------------------------------ phases

/** Give every active market a random phase of its rate loop; returns how many. */
function rephase(s: SimExchange, seed: number): number {
  const internals = s as unknown as { active?: { due: number }[] };
  if (!Array.isArray(internals.active) || internals.active.some((m) => typeof m.due !== 'number')) {
    throw new Error('this kraken-sim has no active markets with a `due` counter to re-phase; run with E2E_REPHASE=0');
  }
  const rng = new Prng(seed);
  for (const m of internals.active) m.due = rng.next();
  return internals.active.length;
}

// ------------------------------------------------------------------ IPC

function simStats(s: SimExchange) {
  const st = s.stats;
  return {
    connections: st.connections,
    connectionsTotal: st.connectionsTotal,
    bookMessagesSent: st.bookMessagesSent,
    framesSent: st.framesSent,
    framesSkippedSlowClient: st.framesSkippedSlowClient,
    slowClientResyncs: st.slowClientResyncs,
  };
}

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

installHook();

serveIpc(async (msg) => {
  switch (msg.type) {
    case 'start': {
      if (sim !== null) throw new Error('already started');
      const symbols = msg.symbols as number;
      restamp = msg.restamp === true;
      tickMs = (msg.tickMs as number | undefined) ?? SIM_TICK_MS;
      genDelay.reset();
      lastChecksum.clear();
      framesBySymbol.clear();
      recordedBytes = 0;
      recordFd = typeof msg.record === 'string' ? openSync(msg.record, 'w') : null;
      Object.assign(hook, { writes: 0, frames: 0, maxFramesPerWrite: 0, unparsed: 0 });
      sim = await startSimExchange({
        host: '127.0.0.1',
        port: 0,
        pairs: defaultSimPairs(symbols),
        bookRatePerSymbol: msg.ratePerSymbol as number,
        tradeRatio: (msg.tradeRatio as number | undefined) ?? 0,
        tickerRatio: 0,
        seed: msg.seed as number,
      });
      setTickPeriod(sim, tickMs);
      return { url: sim.url, port: sim.port, epochOffsetUs: epochOffsetUs(), tickMs, pid: process.pid, symbols: defaultSimPairs(symbols).map((p) => p.symbol) };
    }
    case 'rephase':
      if (sim === null) throw new Error('not started');
      return { markets: rephase(sim, msg.seed as number) };
    case 'stats': {
      if (sim === null) throw new Error('not started');
      const out = { stats: simStats(sim), cpuUs: cpuUs(), hook: { ...hook } };
      if (msg.resetWindow === true) {
        // burst sizes and stamping delays from here on describe the measurement window only
        genDelay.reset();
        Object.assign(hook, { writes: 0, frames: 0, maxFramesPerWrite: 0, unparsed: 0 });
      }
      return out;
    }
    case 'stall': {
      // Stop generating (no data, no heartbeats) so the pipeline drains; everything counted
      // in stats has already been written to the socket (writes happen at the end of a tick).
      if (sim === null) throw new Error('not started');
      sim.inject({ kind: 'stall', ms: msg.ms as number });
      return {
        stats: simStats(sim),
        cpuUs: cpuUs(),
        hook: { ...hook },
        generationToWriteUs: restamp ? summarize(genDelay) : null,
        lastChecksum: Object.fromEntries(lastChecksum),
        framesBySymbol: Object.fromEntries(framesBySymbol),
        recordedBytes,
      };
    }
    case 'stop':
      if (sim !== null) await sim.close();
      sim = null;
      if (recordFd !== null) closeSync(recordFd);
      recordFd = null;
      return {};
    default:
      throw new Error(`unknown request ${msg.type}`);
  }
});
