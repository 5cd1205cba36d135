/** Public types of the simulated Kraken WebSocket v2 exchange. */

export type PairStatus =
  | 'online'
  | 'maintenance'
  | 'cancel_only'
  | 'post_only'
  | 'limit_only'
  | 'reduce_only'
  | 'delisted'
  | 'work_in_progress';

export interface SimPair {
  /** v2 symbol, `BASE/QUOTE` (e.g. `BTC/USD`). */
  symbol: string;
  base: string;
  quote: string;
  /** Decimals of every price on the wire (Kraken's `price_precision`). */
  pricePrecision: number;
  /** Decimals of every qty on the wire (Kraken's `qty_precision`). */
  qtyPrecision: number;
  /** Initial mid as plain decimal text with at most `pricePrecision` decimals. */
  startPrice: string;
  /** Status reported on the `instrument` channel; default `online`. */
  status?: PairStatus;
}

export interface SimOptions {
  /** Interface to bind; default `127.0.0.1`. */
  host?: string;
  /** TCP port; default 0 (ephemeral — read `SimExchange.port`). */
  port?: number;
  /** Tradable pairs; default `defaultSimPairs(8)`. */
  pairs?: SimPair[];
  /**
   * Book update messages per second for each symbol that has at least one
   * subscriber (default 20): every subscriber receives this many. Deeper
   * subscriptions additionally receive the changes below the top 10 (a few %
   * more messages at depth 100), as deeper Kraken subscriptions do. The load is
   * generated in batches per timer tick, so high totals (e.g. 50 symbols ×
   * 1000/s) are fine.
   */
  bookRatePerSymbol?: number;
  /** Trades per book update message (default 0.1). */
  tradeRatio?: number;
  /** Ticker messages per book update message (default 0.05). */
  tickerRatio?: number;
  /** Heartbeat period in ms once a connection has subscribed (default 1000). */
  heartbeatMs?: number;
  /** PRNG seed; the same seed gives the same books and the same event sequence per pair. */
  seed?: number;
  /** Levels per side of the hidden full book (default 1200, must be > 1000). */
  hiddenDepth?: number;
  /**
   * A client whose unsent data exceeds this many bytes is treated as slow: its
   * updates are skipped and its books re-sent as snapshots once it has drained
   * below 1/8 of it (default 8 MiB; see server.ts "Backpressure").
   */
  slowClientBytes?: number;
}

export type SimFault =
  /** The next book message sent for `symbol` carries a wrong checksum; the book itself stays right. */
  | { kind: 'corrupt-checksum'; symbol: string }
  /** The next book update for `symbol` is applied server-side but sent to nobody. */
  | { kind: 'drop-message'; symbol: string }
  /** Terminate every client connection abruptly (no close frame). */
  | { kind: 'disconnect' }
  /** Send nothing at all — no data, heartbeats or responses — for `ms`. */
  | { kind: 'stall'; ms: number }
  /** Send one malformed (truncated JSON) text frame to every client. */
  | { kind: 'malformed' }
  /** Send a `status` frame with `system: "maintenance"`, then close every connection. */
  | { kind: 'maintenance' }
  /** Answer the next `count` WebSocket upgrade requests with HTTP 429. */
  | { kind: 'refuse-connections'; count: number };

export interface SimStats {
  /** Open client connections. */
  connections: number;
  /** Connections accepted since start. */
  connectionsTotal: number;
  /** Subscribe requests per `${channel}:${symbol}` (`instrument:*` for the instrument channel). */
  subscribeRequests: Map<string, number>;
  /** Unsubscribe requests per `${channel}:${symbol}`. */
  unsubscribeRequests: Map<string, number>;
  /** Book frames (snapshots and updates) written to clients. */
  bookMessagesSent: number;
  /** All frames written to clients. */
  framesSent: number;
  /**
   * Data frames not written because the client's send buffer was over the
   * high-water mark (slow consumer; see server.ts "Backpressure").
   */
  framesSkippedSlowClient: number;
  /** Fresh book snapshots sent to a slow client once it drained, to replace the updates it skipped. */
  slowClientResyncs: number;
}

export interface SimExchange {
  /** `ws://host:port/v2`. */
  readonly url: string;
  readonly port: number;
  /** Terminate clients, stop timers and close the listener. */
  close(): Promise<void>;
  inject(fault: SimFault): void;
  readonly stats: SimStats;
  /** Change a pair's status and push an `instrument` update to its subscribers. */
  setPairStatus(symbol: string, status: SimPair['status']): void;
  /**
   * Kraken's system status: sent to every connection and to new ones on connect; the
   * connections stay open (unlike the 'maintenance' fault, which closes them).
   */
  setSystemStatus(status: 'online' | 'maintenance' | 'cancel_only' | 'post_only'): void;
}
