/**
 * Shared pieces of the end-to-end benchmark (bench/e2e.ts and its child processes): the IPC
 * request/response protocol, the one clock every process measures with, /proc readers and
 * the HDR histogram settings.
 *
 * Clock. Latency is measured across processes on CLOCK_MONOTONIC (`process.hrtime`), which
 * is one clock for every process on the machine. Epoch microseconds from
 * `performance.timeOrigin + performance.now()` are NOT comparable across processes or
 * threads on Node 20: each one anchors its own time origin, and the anchors differ by
 * 100–300 µs (measured on this VM; docs/benchmarks.md). So the exchange process reports
 * the offset between its epoch clock and the monotonic clock (measured in-process, to
 * ~1 µs), and the subscriber turns a record's `eventTimeUs` back into monotonic time with it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import * as hdr from 'hdr-histogram-js';

// ------------------------------------------------------------------ clock

/** CLOCK_MONOTONIC in µs (shared by every process on the machine). */
export function monoUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

/** This thread's epoch clock, exactly as engine/clock.ts and the simulated exchange read it (µs). */
export function epochUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/**
 * (epoch clock − monotonic clock) of this thread, in µs: the median over 101 back-to-back
 * readings, each taken between two monotonic reads. Constant for the life of the thread.
 */
export function epochOffsetUs(): number {
  const s: number[] = [];
  for (let i = 0; i < 101; i++) {
    const a = process.hrtime.bigint();
    const e = epochUs();
    const b = process.hrtime.bigint();
    s.push(e - Number((a + b) / 2n) / 1000);
  }
  s.sort((x, y) => x - y);
  return s[50]!;
}

let parsedPrefix = '';
let parsedSec = 0;
/** Epoch µs of an RFC 3339 timestamp with 6 fraction digits (`2026-08-16T23:37:03.745044Z`) at `at` in `buf`. */
export function parseStampUs(buf: Buffer, at: number): number {
  const prefix = buf.toString('latin1', at, at + 19);
  if (prefix !== parsedPrefix) {
    parsedPrefix = prefix;
    parsedSec = Date.parse(`${prefix}Z`) / 1000;
  }
  let frac = 0;
  for (let i = at + 20; i < at + 26; i++) frac = frac * 10 + (buf[i]! - 48);
  return parsedSec * 1e6 + frac;
}

// ------------------------------------------------------------------ HDR histograms

/** Latencies in whole µs, 3 significant digits, up to 60 s (pure-JS build, no WebAssembly). */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

export interface LatencySummary {
  count: number;
  /** µs */
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** The whole histogram, HdrHistogram's compressed base64 form (`decodeFromCompressedBase64`). */
  hdr: string;
}

export function summarize(h: hdr.Histogram): LatencySummary {
  return {
    count: h.totalCount,
    min: h.totalCount === 0 ? NaN : h.minNonZeroValue,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean * 10) / 10,
    hdr: hdr.encodeIntoCompressedBase64(h),
  };
}

// ------------------------------------------------------------------ IPC (parent ⇄ child, request/response)

export interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  [k: string]: unknown;
}

/** Parent side: send `{id, type, ...}` and wait for `{id, ok, ...}` (rejects on error, exit or timeout). */
export class IpcClient {
  private next = 1;
  private readonly waiting = new Map<number, { resolve(r: Reply): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  exited = false;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.ok) w.resolve(m);
      else w.reject(new Error(`${name}: ${m.error ?? 'request failed'}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
      }
      this.waiting.clear();
    });
  }

  request<T = Record<string, unknown>>(type: string, body: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T & Reply> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.next++;
    return new Promise<T & Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name}: no answer to "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve: resolve as (r: Reply) => void, reject, timer });
      this.child.send({ ...body, id, type });
    });
  }
}

/** Child side: answer requests with `handler`; exit when the parent goes away. */
export function serveIpc(handler: (msg: { id: number; type: string; [k: string]: unknown }) => Promise<Record<string, unknown>> | Record<string, unknown>): void {
  if (process.send === undefined) throw new Error('this module runs as a child process of bench/e2e.ts (no IPC channel)');
  process.on('message', (msg: { id: number; type: string }) => {
    Promise.resolve()
      .then(() => handler(msg))
      .then(
        (body) => process.send!({ ...body, id: msg.id, ok: true }),
        (err: unknown) => process.send!({ id: msg.id, ok: false, error: (err as Error).stack ?? String(err) }),
      );
  });
  // The orchestrator owns every run: without it, stop.
  process.on('disconnect', () => process.exit(0));
}

// ------------------------------------------------------------------ /proc

const USER_HZ = 100;

/** CPU time (user + system, all threads) of a process in µs, or null when it is gone. */
export function procCpuUs(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the ")" of the command name: state is field 3, utime 14, stime 15
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / USER_HZ;
  } catch {
    return null;
  }
}

/** Peak (VmHWM) and current (VmRSS) resident set of a process in bytes. */
export function procMemory(pid: number): { peakRss: number; rss: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { peakRss: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return null;
  }
}

/** Threads of a process. */
export function procThreads(pid: number): number | null {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return null;
  }
}

/** Machine-wide CPU counters from /proc/stat, in µs of CPU time. */
export function machineCpu(): { busyUs: number; totalUs: number; stealUs: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const steal = f[7] ?? 0;
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const us = 1e6 / USER_HZ;
    return { busyUs: (total - idle - steal) * us, totalUs: total * us, stealUs: steal * us };
  } catch {
    return null;
  }
}

/** Pid of the first process whose command name is `comm` (e.g. the NATS server), or null. */
export function findPidByComm(comm: string): number | null {
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) return Number(d);
      } catch {
        /* gone */
      }
    }
  } catch {
    /* not Linux */
  }
  return null;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Delete the JetStream streams an engine created for a benchmark namespace (FILLS,
 * DEADLETTER, EVENTS), so repeated runs leave nothing behind on the NATS server.
 */
export async function deleteNamespaceStreams(natsUrl: string, namespace: string): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const { recordsStreamName, streamName } = await import('../engine/switchboard.js');
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    for (const s of ['FILLS', 'DEADLETTER', 'EVENTS'] as const) await jsm.streams.delete(streamName(namespace, s)).catch(() => undefined);
    await jsm.streams.delete(recordsStreamName(namespace)).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
