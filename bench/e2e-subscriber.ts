/**
 * Child process of bench/e2e.ts: a trading system's view of the engine. Subscribes to every
 * instrument's risk on core NATS (`riskWildcard(namespace)`), decodes each record with
 * `createRiskDecoder()`, and
 *
 * - records, while the measurement window is open, the latency from the exchange's send
 *   (the record's `eventTimeUs`, stamped by bench/e2e-exchange.ts at the socket write) to
 *   this process's receive, on the machine's monotonic clock, into an HDR histogram;
 * - checks every record: per symbol `seq` contiguous within an `epoch` (a gap = a lost
 *   record, a repeat or step back = out of order), no epoch change (a worker restart), no
 *   RESYNCING record (checksum mismatch in the engine), every LIVE record with a checksum
 *   and an event time, and no record other than LIVE once the window is open.
 */
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { MarketRisk } from '../actors/risk.js';
import { createRiskDecoder } from '../adapters/nats/codec.js';
import { riskWildcard } from '../engine/switchboard.js';
import { epochOffsetUs, latencyHistogram, monoUs, serveIpc, summarize, type LatencySummary } from './e2e-common.js';

interface SymbolState {
  epoch: number;
  seq: number;
  live: number;
  nonLive: number;
  resyncing: number;
  nonLiveInWindow: number;
  lastChecksum: number;
  lastEventUs: number | null;
  lastRecvUs: number;
  republished: number;
}

const decoder = createRiskDecoder();
let nc: NatsConnection | null = null;
let sub: Subscription | null = null;
let simOffsetUs = 0;
let windowOpen = false;
let latency = latencyHistogram();
/**
 * The two halves of the path, split at the engine's receive time (`recvTimeUs`). That time is
 * on the engine worker's own epoch anchor, which differs from ours by an unknown constant
 * (up to ~±1 ms), so each half is known only up to that constant: the histograms hold
 * (half + constant + SHIFT) and are reported relative to their own minimum — how far above
 * its fastest observed value each half goes.
 */
let halfIn = latencyHistogram();
let halfOut = latencyHistogram();
const SHIFT = 10_000;
const ownOffsetUs = epochOffsetUs();

const symbols = new Map<string, SymbolState>();
const c = {
  records: 0,
  /** LIVE records produced by a book frame (one per frame the exchange sent). */
  live: 0,
  /** LIVE records that repeat the previous one's book event (periodic analytics, quiet flag): not timed. */
  republished: 0,
  bytes: 0,
  lost: 0,
  outOfOrder: 0,
  epochChanges: 0,
  firstSeqNotOne: 0,
  resyncing: 0,
  missingChecksum: 0,
  missingEventTime: 0,
  nonLiveInWindow: 0,
  negativeLatency: 0,
  decodeErrors: 0,
  slowConsumer: 0,
  disconnects: 0,
  windowRecords: 0,
};
const health: Record<string, number> = {};
let firstProblem: string | null = null;
const problem = (text: string) => {
  firstProblem ??= text;
};

function onRecord(data: Uint8Array): void {
  const now = monoUs();
  let r: MarketRisk;
  try {
    r = decoder.decode(data);
  } catch (err) {
    c.decodeErrors++;
    problem(`undecodable record: ${(err as Error).message}`);
    return;
  }
  c.records++;
  c.bytes += data.length;
  health[r.health] = (health[r.health] ?? 0) + 1;
  let s = symbols.get(r.symbol);
  if (s === undefined) {
    s = { epoch: r.epoch, seq: 0, live: 0, nonLive: 0, resyncing: 0, nonLiveInWindow: 0, lastChecksum: -1, lastEventUs: null, lastRecvUs: -1, republished: 0 };
    symbols.set(r.symbol, s);
    if (r.seq !== 1) {
      c.firstSeqNotOne++;
      problem(`${r.symbol}: first record has seq ${r.seq}`);
    }
  } else if (r.epoch !== s.epoch) {
    c.epochChanges++;
    problem(`${r.symbol}: epoch changed ${s.epoch} → ${r.epoch} (actor restarted)`);
    s.epoch = r.epoch;
    s.seq = 0;
  } else if (r.seq !== s.seq + 1) {
    if (r.seq > s.seq + 1) {
      c.lost += r.seq - s.seq - 1;
      problem(`${r.symbol}: seq ${s.seq} → ${r.seq} (${r.seq - s.seq - 1} lost)`);
    } else {
      c.outOfOrder++;
      problem(`${r.symbol}: seq ${s.seq} → ${r.seq} (out of order)`);
    }
  }
  s.seq = r.seq;
  if (r.health === 'RESYNCING') {
    c.resyncing++;
    s.resyncing++;
    problem(`${r.symbol}: RESYNCING record (checksum mismatch in the engine)`);
  }
  if (r.health !== 'LIVE') {
    s.nonLive++;
    if (windowOpen) {
      c.nonLiveInWindow++;
      s.nonLiveInWindow++;
      problem(`${r.symbol}: ${r.health} record after warm-up`);
    }
    return;
  }
  // A record that carries the same book event as the symbol's previous one (event time, engine
  // receive time and checksum) was published for another reason (the engine's periodic
  // analytics, the quiet flag): it is not a frame's record, so it is neither counted nor timed.
  if (s.live > 0 && r.eventTimeUs === s.lastEventUs && r.recvTimeUs === s.lastRecvUs && r.checksum === s.lastChecksum) {
    s.republished++;
    c.republished++;
    return;
  }
  s.lastEventUs = r.eventTimeUs;
  s.lastRecvUs = r.recvTimeUs;
  s.live++;
  c.live++;
  if (typeof r.checksum !== 'number') {
    c.missingChecksum++;
    problem(`${r.symbol}: LIVE record without checksum`);
  } else s.lastChecksum = r.checksum;
  if (r.eventTimeUs === null) {
    c.missingEventTime++;
    return;
  }
  if (!windowOpen) return;
  c.windowRecords++;
  const lat = now - (r.eventTimeUs - simOffsetUs);
  if (lat < 0) c.negativeLatency++;
  latency.recordValue(lat < 0 ? 0 : Math.round(lat));
  const eventMono = r.eventTimeUs - simOffsetUs;
  const recvMonoApprox = r.recvTimeUs - ownOffsetUs; // engine receive, up to the anchor difference
  halfIn.recordValue(Math.max(0, Math.round(recvMonoApprox - eventMono + SHIFT)));
  halfOut.recordValue(Math.max(0, Math.round(now - recvMonoApprox + SHIFT)));
}

/** Percentiles of a half relative to its minimum (see halfIn). */
function aboveMin(h: ReturnType<typeof latencyHistogram>): Omit<LatencySummary, 'hdr'> | null {
  if (h.totalCount === 0) return null;
  const m = h.minNonZeroValue;
  return { count: h.totalCount, min: 0, p50: h.getValueAtPercentile(50) - m, p90: h.getValueAtPercentile(90) - m, p99: h.getValueAtPercentile(99) - m, p999: h.getValueAtPercentile(99.9) - m, max: h.maxValue - m, mean: Math.round((h.mean - m) * 10) / 10 };
}

function report() {
  return {
    counters: { ...c },
    health: { ...health },
    symbols: symbols.size,
    liveSymbols: [...symbols.values()].filter((s) => s.live > 0).length,
    lastChecksum: Object.fromEntries([...symbols].map(([k, s]) => [k, s.lastChecksum])),
    liveBySymbol: Object.fromEntries([...symbols].map(([k, s]) => [k, s.live])),
    resyncingBySymbol: Object.fromEntries([...symbols].filter(([, s]) => s.resyncing > 0).map(([k, s]) => [k, s.resyncing])),
    nonLiveInWindowBySymbol: Object.fromEntries([...symbols].filter(([, s]) => s.nonLiveInWindow > 0).map(([k, s]) => [k, s.nonLiveInWindow])),
    latencyUs: summarize(latency),
    split: { exchangeToEngine: aboveMin(halfIn), engineToSubscriber: aboveMin(halfOut) },
    firstProblem,
    cpuUs: (() => {
      const u = process.cpuUsage();
      return u.user + u.system;
    })(),
  };
}

serveIpc(async (msg) => {
  switch (msg.type) {
    case 'connect': {
      nc = await connect({ servers: msg.url as string, name: 'aether-bench-subscriber', maxReconnectAttempts: 5, reconnectTimeWait: 200 });
      void (async () => {
        for await (const s of nc!.status()) {
          if (s.type === 'slowConsumer') {
            c.slowConsumer++;
            problem('NATS slow consumer: the subscriber fell behind');
          } else if (s.type === 'disconnect') {
            c.disconnects++;
            problem('subscriber disconnected from NATS');
          }
        }
      })();
      return { pid: process.pid };
    }
    case 'subscribe': {
      if (nc === null) throw new Error('not connected');
      symbols.clear();
      for (const k of Object.keys(c) as (keyof typeof c)[]) c[k] = 0;
      for (const k of Object.keys(health)) delete health[k];
      firstProblem = null;
      latency = latencyHistogram();
      halfIn = latencyHistogram();
      halfOut = latencyHistogram();
      windowOpen = false;
      simOffsetUs = msg.simOffsetUs as number;
      sub = nc.subscribe(riskWildcard(msg.namespace as string), { callback: (err, m) => (err === null ? onRecord(m.data) : problem(`subscription error: ${err.message}`)) });
      await nc.flush();
      return {};
    }
    case 'window':
      windowOpen = msg.open === true;
      return report();
    case 'report':
      return report();
    case 'progress':
      return { live: c.live, records: c.records, liveSymbols: [...symbols.values()].filter((x) => x.live > 0).length };
    case 'unsubscribe':
      sub?.unsubscribe();
      sub = null;
      if (nc !== null) await nc.flush();
      return report();
    case 'close':
      if (nc !== null) await nc.close();
      nc = null;
      return {};
    default:
      throw new Error(`unknown request ${msg.type}`);
  }
});
