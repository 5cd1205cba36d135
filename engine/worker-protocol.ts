/** Messages between the supervisor (main thread) and a worker host. Structured-clone safe. */
import type { MarketRisk } from '../actors/risk.js';
import type { InstrumentCounters } from '../actors/instrument.js';
import type { Config } from './config.js';
import type { FeedGap, TradeRecord } from './feed.js';

export interface WorkerInit {
  readonly index: number;
  readonly generation: number;
  readonly symbols: readonly string[];
  readonly config: Config;
  readonly krakenUrl: string;
  readonly simulated: boolean;
  readonly budget: SharedArrayBuffer;
  /** The market board (engine/market-board.ts) and this process's symbol → slot map. */
  readonly board: SharedArrayBuffer;
  readonly slots: Readonly<Record<string, number>>;
  /** How often the worker posts changed risk and stats to the main thread. */
  readonly reportMs: number;
}

/** Upper bounds (µs) of the hot-path latency histogram's buckets (+Inf implied after the last). */
export const HOT_PATH_BUCKETS_US: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000];

export interface SymbolStats {
  readonly symbol: string;
  readonly health: string;
  readonly reason: string | null;
  readonly counters: InstrumentCounters;
}

export interface WorkerStats {
  readonly frames: number;
  readonly malformed: number;
  readonly unexpected: number;
  readonly heartbeats: number;
  readonly connects: number;
  readonly disconnects: number;
  readonly deadConnections: number;
  readonly connected: boolean;
  readonly published: number;
  readonly conflated: number;
  readonly natsDropped: number;
  readonly natsConnected: boolean | null;
  readonly mailboxDropped: number;
  /** Control messages waiting in the worker's mailbox, and the most ever waiting. */
  readonly mailboxDepth: number;
  readonly mailboxHighWater: number;
  /** Sampled frame processing times (frame in → risk out), cumulative: counts per HOT_PATH_BUCKETS_US bucket, sum (µs), count. */
  readonly hotPath: { readonly buckets: readonly number[]; readonly sumUs: number; readonly count: number };
  /** Trades not passed to the main thread because one report interval held too many. */
  readonly tradesDropped: number;
  readonly symbols: readonly SymbolStats[];
}

export type WorkerToMain =
  | { readonly type: 'ready' }
  | { readonly type: 'report'; readonly risk: MarketRisk[]; readonly trades: TradeRecord[]; readonly gaps: FeedGap[]; readonly stats: WorkerStats }
  | { readonly type: 'stopped' };

export type MainToWorker =
  | { readonly type: 'stop' }
  /** Fault injection for supervision tests; refused in production. */
  | { readonly type: 'crash' };
