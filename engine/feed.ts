/**
 * The engine's in-process feed: what the actors produce, for the consumers that live in the
 * main thread (the WebSocket gateway, the persistence recorder, the Redis state cache). One
 * synchronous fan-out per kind; a listener must not block (each keeps its own bounded queue).
 *
 * The same shapes are what a consumer fed from NATS reconstructs, so a consumer does not care
 * where its data comes from.
 */
import type { MarketRisk } from '../actors/risk.js';
import type { StateEvent } from '../actors/account.js';

/** One trade as printed by Kraken, with exact decimal text. */
export interface TradeRecord {
  readonly symbol: string;
  /** Kraken's trade id (unique per pair); -1 when the venue did not send one. */
  readonly tradeId: number;
  readonly side: 'buy' | 'sell';
  readonly price: string;
  readonly qty: string;
  /** Venue time, µs since the epoch (receive time when the venue sent none). */
  readonly timeUs: number;
  readonly recvUs: number;
}

/** A span during which an instrument's book was not verified live. */
export interface FeedGap {
  readonly symbol: string;
  /** What opened the gap: the book health it left LIVE for, or `restart`. */
  readonly reason: string;
  readonly startUs: number;
  readonly endUs: number;
}

export interface FeedEvents {
  risk: readonly MarketRisk[];
  trades: readonly TradeRecord[];
  gaps: readonly FeedGap[];
  /** Account risk (engine/risk-host.ts AccountRisk). */
  portfolio: { readonly account: string } & Record<string, unknown>;
  event: StateEvent;
}

type Listener<T> = (value: T) => void;

export class EngineFeed {
  private readonly listeners: { [K in keyof FeedEvents]: Listener<FeedEvents[K]>[] } = {
    risk: [],
    trades: [],
    gaps: [],
    portfolio: [],
    event: [],
  };
  /** Listener exceptions, counted (a faulty consumer never breaks the producer). */
  listenerErrors = 0;

  on<K extends keyof FeedEvents>(kind: K, fn: Listener<FeedEvents[K]>): () => void {
    const list = this.listeners[kind] as Listener<FeedEvents[K]>[];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<K extends keyof FeedEvents>(kind: K, value: FeedEvents[K]): void {
    for (const fn of this.listeners[kind] as Listener<FeedEvents[K]>[]) {
      try {
        fn(value);
      } catch {
        this.listenerErrors++;
      }
    }
  }
}
