/**
 * Supervisor: starts one worker thread per non-empty instrument group, restarts a worker that
 * throws or exits (its instruments resubscribe and rebuild from a fresh snapshot; the other
 * workers carry on untouched), and gathers their reports.
 */
import type { Worker } from 'node:worker_threads';
import type { MarketRisk } from '../actors/risk.js';
import type { Config } from './config.js';
import { ConnectBudget } from './connect-budget.js';
import type { Logger } from './logger.js';
import { MarketBoard } from './market-board.js';
import type { EngineFeed, FeedGap } from './feed.js';
import { metrics } from './metrics.js';
import { assignWorkers } from './shard-map.js';
import { siblingModule, spawnWorker } from './spawn-worker.js';
import type { MainToWorker, WorkerInit, WorkerStats, WorkerToMain } from './worker-protocol.js';

/**
 * Restart delays: the first restart after a healthy period comes at once (200 ms, well within
 * the 1 s requirement); a worker that keeps crashing backs off 0.4 s, 0.8 s … 30 s so a crash
 * loop cannot burn the shared Kraken connection budget. A minute of health resets it.
 */
const RESTART_FIRST_MS = 200;
const RESTART_CAP_MS = 30_000;
const HEALTHY_RESET_MS = 60_000;
const STOP_TIMEOUT_MS = 8_000;

export interface SupervisorOptions {
  config: Config;
  log: Logger;
  symbols: readonly string[];
  krakenUrl: string;
  simulated: boolean;
  reportMs?: number;
  /** The process-wide connection budget (shared with instrument discovery); created if absent. */
  budget?: ConnectBudget;
  onRisk?(records: readonly MarketRisk[]): void;
  /** Where reports go besides `latest` (risk, trades, feed gaps). */
  feed?: EngineFeed;
}

interface Slot {
  index: number;
  symbols: string[];
  worker: Worker | null;
  generation: number;
  ready: boolean;
  stopped: boolean;
  restarts: number;
  /** Consecutive crashes without a healthy minute in between. */
  crashStreak: number;
  /** Delay chosen for the last restart (ms), -1 before any. */
  lastRestartDelayMs: number;
  startedAt: number;
  stats: WorkerStats | null;
  restartTimer: NodeJS.Timeout | null;
}

export class Supervisor {
  readonly budget: ConnectBudget;
  /** Every instrument's live top of book, written by the workers (engine/market-board.ts). */
  readonly board: MarketBoard;
  /** Symbol → board slot. */
  readonly slotOf: Readonly<Record<string, number>>;
  /** Latest risk record per symbol. */
  readonly latest = new Map<string, MarketRisk>();
  /** Instruments of a crashed worker: when their gap began (µs), until they are LIVE again. */
  private readonly restartGaps = new Map<string, number>();
  private readonly slots: Slot[] = [];
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions) {
    this.budget = opts.budget ?? ConnectBudget.create(opts.config.connectBudget);
    this.board = MarketBoard.create(opts.symbols.length);
    this.slotOf = Object.freeze(Object.fromEntries(opts.symbols.map((s, i) => [s, i])));
    const groups = assignWorkers(opts.symbols, opts.config.workers);
    groups.forEach((symbols, index) => {
      if (symbols.length > 0) {
        this.slots.push({ index, symbols, worker: null, generation: 0, ready: false, stopped: false, restarts: 0, crashStreak: 0, lastRestartDelayMs: -1, startedAt: 0, stats: null, restartTimer: null });
      }
    });
  }

  get workerCount(): number {
    return this.slots.length;
  }

  /** Which worker index hosts `symbol`, or -1. */
  workerOf(symbol: string): number {
    return this.slots.find((s) => s.symbols.includes(symbol))?.index ?? -1;
  }

  workers(): { index: number; symbols: readonly string[]; ready: boolean; restarts: number; lastRestartDelayMs: number; generation: number; stats: WorkerStats | null; threadId: number }[] {
    return this.slots.map((s) => ({ index: s.index, symbols: s.symbols, ready: s.ready, restarts: s.restarts, lastRestartDelayMs: s.lastRestartDelayMs, generation: s.generation, stats: s.stats, threadId: s.worker?.threadId ?? -1 }));
  }

  start(): void {
    for (const s of this.slots) this.spawn(s);
    this.opts.log.info(
      { workers: this.slots.map((s) => ({ index: s.index, symbols: s.symbols.length })) },
      `started ${this.slots.length} worker thread(s) for ${this.opts.symbols.length} instrument(s)`,
    );
  }

  private spawn(slot: Slot): void {
    slot.generation++;
    slot.ready = false;
    slot.stopped = false;
    slot.startedAt = Date.now();
    const init: WorkerInit = {
      index: slot.index,
      generation: slot.generation,
      symbols: slot.symbols,
      config: this.opts.config,
      krakenUrl: this.opts.krakenUrl,
      simulated: this.opts.simulated,
      budget: this.budget.buffer,
      board: this.board.buffer,
      slots: this.slotOf,
      reportMs: this.opts.reportMs ?? 250,
    };
    const worker = spawnWorker(siblingModule(import.meta.url, 'worker'), { workerData: init, name: `aether-worker-${slot.index}` });
    slot.worker = worker;
    worker.on('message', (m: WorkerToMain) => this.onMessage(slot, m));
    worker.on('error', (err) => {
      this.opts.log.error({ code: 'E_WORKER_CRASHED', worker: slot.index, err: { message: err.message, stack: err.stack } }, 'worker thread threw');
    });
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return;
      slot.worker = null;
      slot.ready = false;
      if (this.stopping || slot.stopped) return;
      slot.restarts++;
      metrics.workerRestarts.inc();
      // Its instruments are not verified live until the new worker's books are: a feed gap
      // from the last record each reported until it is LIVE again.
      const nowUs = Date.now() * 1000;
      for (const sym of slot.symbols) if (!this.restartGaps.has(sym)) this.restartGaps.set(sym, Math.min(nowUs, this.latest.get(sym)?.recvTimeUs ?? nowUs));
      // Nobody maintains these books until the new worker has them LIVE again: the board and
      // the latest records say so at once (pre-trade checks deny them, streams mark them stale).
      const stale: MarketRisk[] = [];
      for (const sym of slot.symbols) {
        const boardSlot = this.slotOf[sym];
        if (boardSlot !== undefined) this.board.markStale(boardSlot);
        const r = this.latest.get(sym);
        if (r !== undefined && r.health === 'LIVE') {
          const s2 = { ...r, health: 'STALE' as MarketRisk['health'] };
          this.latest.set(sym, s2);
          stale.push(s2);
        }
      }
      if (stale.length > 0) {
        this.opts.onRisk?.(stale);
        this.opts.feed?.emit('risk', stale);
      }
      if (Date.now() - slot.startedAt >= HEALTHY_RESET_MS) slot.crashStreak = 0;
      const delay = Math.min(RESTART_CAP_MS, RESTART_FIRST_MS * 2 ** slot.crashStreak);
      slot.crashStreak++;
      slot.lastRestartDelayMs = delay;
      this.opts.log.error(
        { code: 'E_WORKER_CRASHED', worker: slot.index, exitCode: code, restarts: slot.restarts, symbols: slot.symbols },
        `worker ${slot.index} exited unexpectedly: restarting in ${delay} ms`,
      );
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = null;
        if (!this.stopping) this.spawn(slot);
      }, delay);
    });
  }

  private onMessage(slot: Slot, m: WorkerToMain): void {
    switch (m.type) {
      case 'ready':
        slot.ready = true;
        return;
      case 'report':
        slot.stats = m.stats;
        metrics.observeWorker(slot.index, m.stats);
        for (const r of m.risk) this.latest.set(r.symbol, r);
        if (this.restartGaps.size > 0) {
          const closed: FeedGap[] = [];
          for (const r of m.risk) {
            const since = this.restartGaps.get(r.symbol);
            if (since !== undefined && r.health === 'LIVE') {
              this.restartGaps.delete(r.symbol);
              closed.push({ symbol: r.symbol, reason: 'worker restart', startUs: since, endUs: Math.max(since, r.recvTimeUs) });
            }
          }
          if (closed.length > 0) this.opts.feed?.emit('gaps', closed);
        }
        if (m.risk.length > 0) {
          this.opts.onRisk?.(m.risk);
          this.opts.feed?.emit('risk', m.risk);
        }
        if (m.trades.length > 0) this.opts.feed?.emit('trades', m.trades);
        if (m.gaps.length > 0) this.opts.feed?.emit('gaps', m.gaps);
        return;
      case 'stopped':
        slot.stopped = true;
        return;
    }
  }

  /** Send a control message to one worker. */
  send(index: number, msg: MainToWorker): void {
    this.slots.find((s) => s.index === index)?.worker?.postMessage(msg);
  }

  /** Graceful stop: each worker stops intake, flushes its outputs and closes its connections. */
  async stop(): Promise<void> {
    this.stopping = true;
    const exits = this.slots.map((slot) => {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      const w = slot.worker;
      if (w === null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.opts.log.warn({ worker: slot.index }, 'worker did not stop in time: terminating');
          void w.terminate();
        }, STOP_TIMEOUT_MS);
        w.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        w.postMessage({ type: 'stop' } satisfies MainToWorker);
      });
    });
    await Promise.all(exits);
  }
}
