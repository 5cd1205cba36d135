/**
 * Worker host: the actors of the instruments assigned to this thread, their own Kraken
 * connection (raw frames never cross threads), and their risk output. Control messages from
 * the supervisor arrive through a bounded mailbox; market data is dispatched inline in the
 * socket callback, run to completion.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { InstrumentActor } from '../actors/instrument.js';
import { KrakenClient } from '../adapters/kraken/client.js';
import { NatsPublisher } from '../adapters/nats/publisher.js';
import { systemClock, systemTimers } from './clock.js';
import { ConnectBudget } from './connect-budget.js';
import { createLogger } from './logger.js';
import { Mailbox, OverflowPolicy } from './mailbox.js';
import { MarketBoard } from './market-board.js';
import { RiskOutput } from './risk-output.js';
import { HOT_PATH_BUCKETS_US, type MainToWorker, type WorkerInit, type WorkerStats, type WorkerToMain } from './worker-protocol.js';
import type { FeedGap, TradeRecord } from './feed.js';
import { BookHealth } from '../actors/risk.js';
import { plainDecimal } from '../actors/position.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: WorkerToMain) => port.postMessage(m);
const { config } = init;
const log = createLogger({ level: config.logLevel, name: 'aether' }).child({ worker: init.index, gen: init.generation });

// Never awaited: the feed must run (and risk be logged) even while NATS is unreachable.
const publisher = config.natsUrl !== null ? NatsPublisher.start(config.natsUrl, `aether-worker-${init.index}`, log) : null;
const output = new RiskOutput(publisher, config.natsNamespace, config.riskMaxRateHz, systemClock);
const board = MarketBoard.attach(init.board);
const boardSlot = new Map<InstrumentActor, number>();

// Trades and feed gaps travel to the main thread with each report (for persistence and the
// gateway). Bounded: past REPORT_TRADES_MAX trades in one interval the rest are dropped and
// counted (tradesDropped), so a stalled main thread cannot grow this worker's memory.
const REPORT_TRADES_MAX = 50_000;
let trades: TradeRecord[] = [];
// The sampled hot-path latency histogram (bucket counts, the last one is +Inf).
const hotBuckets = new Array<number>(HOT_PATH_BUCKETS_US.length + 1).fill(0);
let hotSumUs = 0;
let hotCount = 0;
let tradesDropped = 0;
let gaps: FeedGap[] = [];
/** When each instrument left LIVE (µs) and why; absent while LIVE or before its first LIVE. */
const notLiveSince = new Map<InstrumentActor, { startUs: number; reason: string }>();
const everLive = new Set<InstrumentActor>();
function trackGap(actor: InstrumentActor): void {
  const live = actor.health === BookHealth.LIVE;
  const open = notLiveSince.get(actor);
  if (live) {
    everLive.add(actor);
    if (open !== undefined) {
      notLiveSince.delete(actor);
      if (gaps.length < 10_000) gaps.push({ symbol: actor.symbol, reason: open.reason, startUs: open.startUs, endUs: systemClock.nowUs() });
    }
  } else if (open === undefined && everLive.has(actor)) {
    notLiveSince.set(actor, { startUs: systemClock.nowUs(), reason: actor.health });
  }
}
const client = new KrakenClient({
  url: init.krakenUrl,
  symbols: init.symbols,
  depth: config.bookDepth,
  simulated: init.simulated,
  heartbeatTimeoutMs: config.heartbeatTimeoutMs,
  quietAfterMs: config.quietAfterMs,
  budget: ConnectBudget.attach(init.budget, config.connectBudget),
  clock: systemClock,
  timers: systemTimers,
  log,
  params: {
    volLambda: config.volLambda,
    volIntervalSec: config.volIntervalMs / 1000,
    flowWindowUs: config.flowWindowSec * 1e6,
    clipNotional: config.clipNotional,
  },
  onRisk: (actor) => {
    output.offer(actor);
    let slot = boardSlot.get(actor);
    if (slot === undefined) {
      slot = init.slots[actor.symbol] ?? -1;
      boardSlot.set(actor, slot);
    }
    if (slot >= 0) board.write(slot, actor);
    trackGap(actor);
  },
  onFrameTimed: (ms) => {
    const us = ms * 1000;
    let i = 0;
    while (i < HOT_PATH_BUCKETS_US.length && us > HOT_PATH_BUCKETS_US[i]!) i++;
    hotBuckets[i]!++;
    hotSumUs += us;
    hotCount++;
  },
  onTrade: (actor, tradeId, side, price, qty, timeUs, recvUs, priceText, qtyText) => {
    if (trades.length >= REPORT_TRADES_MAX) {
      tradesDropped++;
      return;
    }
    // Price and quantity exactly as Kraken printed them (the doubles only as a fallback).
    trades.push({
      symbol: actor.symbol,
      tradeId,
      side: side > 0 ? 'buy' : 'sell',
      price: priceText !== '' ? priceText : plainDecimal(price),
      qty: qtyText !== '' ? qtyText : plainDecimal(qty),
      timeUs: timeUs >= 0 ? timeUs : recvUs,
      recvUs,
    });
  },
});

function takeTrades(): TradeRecord[] {
  const t = trades;
  trades = [];
  return t;
}
function takeGaps(): FeedGap[] {
  const g = gaps;
  gaps = [];
  return g;
}

let stopping = false;
const mailbox = new Mailbox<MainToWorker>(config.mailboxCapacity, OverflowPolicy.REJECT, (msg) => {
  switch (msg.type) {
    case 'stop':
      void stop();
      return;
    case 'crash':
      if (config.env === 'production') return;
      throw new Error('injected worker crash');
  }
});
port.on('message', (msg: MainToWorker) => {
  if (!mailbox.post(msg)) log.error({ code: 'E_MAILBOX_OVERFLOW', type: msg.type }, 'worker control mailbox full: message refused');
  mailbox.drain();
});

function stats(): WorkerStats {
  const s = client.session;
  return {
    frames: s.counters.frames,
    malformed: s.counters.malformed,
    unexpected: s.counters.unexpected,
    heartbeats: s.counters.heartbeats,
    connects: client.counters.connects,
    disconnects: client.counters.disconnects,
    deadConnections: client.counters.deadConnections,
    connected: client.connected,
    published: output.published,
    conflated: output.conflated,
    natsDropped: publisher?.counters.dropped ?? 0,
    natsConnected: publisher === null ? null : publisher.connected,
    mailboxDropped: mailbox.dropped,
    mailboxDepth: mailbox.depth,
    mailboxHighWater: mailbox.highWater,
    tradesDropped,
    hotPath: { buckets: [...hotBuckets], sumUs: hotSumUs, count: hotCount },
    symbols: [...s.actors.values()].map((a) => ({ symbol: a.symbol, health: a.health, reason: a.reason, counters: { ...a.counters } })),
  };
}

// The sampling clock of the instrument analytics (volatility, trade-flow window).
const sampler = setInterval(() => client.session.sample(systemClock.nowUs()), config.volIntervalMs);
const reporter = setInterval(() => post({ type: 'report', risk: output.takeChanged(), trades: takeTrades(), gaps: takeGaps(), stats: stats() }), init.reportMs);

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(reporter);
  clearInterval(sampler);
  await client.stop(); // intake stops first
  output.flush();
  post({ type: 'report', risk: output.takeChanged(), trades: takeTrades(), gaps: takeGaps(), stats: stats() });
  await publisher?.close();
  post({ type: 'stopped' });
  port.close();
}

// Give NATS a moment so the first records of a (re)started actor reach subscribers, but never
// hold the feed hostage to it: after 2 s the feed starts anyway and drops are counted.
if (publisher !== null) await Promise.race([publisher.whenConnected(), new Promise((r) => setTimeout(r, 2000).unref())]);
if (!stopping) client.start();
post({ type: 'ready' });
