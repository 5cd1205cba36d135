/**
 * Where the gateway's data comes from. The hub (hub.ts) depends only on `GatewaySource`, so
 * the same server runs
 *   - embedded, inside the engine process (the default): risk, trades, account risk and events
 *     from the engine's in-process feed (engine/feed.ts), snapshots from the supervisor, books
 *     from the market board (shared memory) — no NATS needed;
 *   - as a separate process fed from NATS (`aether-risk gateway`): risk, account risk and
 *     events from their subjects. Order books and trades are not published on NATS, so that
 *     gateway refuses `book.*` and `trades.*` with UNAVAILABLE.
 */
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { Unpackr } from 'msgpackr';
import type { StateEvent } from '../../actors/account.js';
import { BookHealth, type MarketRisk } from '../../actors/risk.js';
import { createRiskDecoder } from '../../adapters/nats/codec.js';
import type { Config } from '../config.js';
import { EngineFeed, type FeedEvents } from '../feed.js';
import type { Logger } from '../logger.js';
import { BoardBook } from '../market-board.js';
import type { RiskHost } from '../risk-host.js';
import type { Supervisor } from '../supervisor.js';
import { ACCOUNT_RE, eventsWildcard, portfolioSubject, riskWildcard } from '../switchboard.js';
import { SYMBOL_RE } from './protocol.js';

/** `data` of a `book.<SYMBOL>` message: the top levels from the market board. */
export interface BookView {
  readonly symbol: string;
  readonly health: string;
  /** Best first: [price, qty]. Empty unless the book is LIVE. */
  readonly bids: [number, number][];
  readonly asks: [number, number][];
  /** Engine receive time (epoch µs) of the frame behind this version of the book. */
  readonly timeUs: number;
  /** The risk record sequence and epoch this book version corresponds to. */
  readonly seq: number;
  readonly epoch: number;
}

/** One element of the `instruments` channel and of `GET /v1/instruments`. */
export interface InstrumentInfo {
  readonly symbol: string;
  readonly health: string;
  /** Why it is not LIVE (venue refusal, connection loss …), when known. */
  readonly reason: string | null;
  /** True when the data is not live (health not LIVE, or the source itself is behind). */
  readonly stale: boolean;
  readonly quiet: boolean;
  /** seq and epoch of the latest risk record (0 before the first). */
  readonly seq: number;
  readonly epoch: number;
  /** Engine receive time (epoch µs) of the latest risk record, or null before the first. */
  readonly lastUpdateUs: number | null;
}

export interface GatewaySource {
  readonly kind: 'embedded' | 'nats';
  readonly simulated: boolean;
  /** Risk, trades, account risk and events as they happen (the engine/feed.ts shapes). */
  readonly feed: EngineFeed;
  /** Instruments served, in a stable order (the NATS source adds symbols as they appear). */
  symbols(): readonly string[];
  isSymbol(symbol: string): boolean;
  latestRisk(symbol: string): MarketRisk | null;
  instrument(symbol: string): InstrumentInfo;
  /** True when data for `symbol` (or, without one, the source as a whole) cannot be current. */
  isStale(symbol?: string): boolean;
  /** Order books; null when this source has none. */
  readonly books: { read(symbol: string, levels: number): BookView | null } | null;
  readonly hasTrades: boolean;
  /** The freshest account risk the source can compute itself (embedded: the risk host), else null. */
  portfolio(account: string): Record<string, unknown> | null;
  /** Called when `isStale()` of the whole source flips (the hub re-marks its channels). */
  onStaleChange(fn: () => void): void;
  close(): Promise<void>;
}

function instrumentFrom(symbol: string, r: MarketRisk | null, reason: string | null, sourceStale: boolean): InstrumentInfo {
  const health = r?.health ?? BookHealth.SYNCING;
  return {
    symbol,
    health,
    reason,
    stale: sourceStale || health !== BookHealth.LIVE,
    quiet: r?.quiet ?? false,
    seq: r?.seq ?? 0,
    epoch: r?.epoch ?? 0,
    lastUpdateUs: r === null || r.recvTimeUs === 0 ? null : r.recvTimeUs,
  };
}

// ---------------------------------------------------------------------------------------

export interface EmbeddedSourceOptions {
  readonly supervisor: Supervisor;
  readonly feed: EngineFeed;
  readonly simulated: boolean;
  /** The engine's risk host (resolves to null without NATS). */
  readonly riskHost: Promise<RiskHost | null>;
}

/** The engine's own process: actors → supervisor → feed, books from the market board. */
export function embeddedSource(opts: EmbeddedSourceOptions): GatewaySource {
  const sup = opts.supervisor;
  const symbols = Object.keys(sup.slotOf);
  const known = new Set(symbols);
  const view = new BoardBook();
  let host: RiskHost | null = null;
  void opts.riskHost.then((h) => (host = h));
  // Worker readiness and per-symbol reasons, refreshed at most every 200 ms (workers() copies).
  let refreshedAt = -Infinity;
  const workerOfSymbol = new Map<string, number>();
  let workerReady: boolean[] = [];
  const reasons = new Map<string, string | null>();
  const refresh = () => {
    const now = Date.now();
    if (now - refreshedAt < 200) return;
    refreshedAt = now;
    const ws = sup.workers();
    workerReady = [];
    ws.forEach((w, i) => {
      workerReady[i] = w.ready;
      for (const s of w.symbols) workerOfSymbol.set(s, i);
      for (const s of w.stats?.symbols ?? []) reasons.set(s.symbol, s.reason);
    });
  };
  return {
    kind: 'embedded',
    simulated: opts.simulated,
    feed: opts.feed,
    symbols: () => symbols,
    isSymbol: (s) => known.has(s),
    latestRisk: (s) => sup.latest.get(s) ?? null,
    instrument(s) {
      refresh();
      return instrumentFrom(s, sup.latest.get(s) ?? null, reasons.get(s) ?? null, this.isStale(s));
    },
    isStale(s?: string) {
      if (s === undefined) return false;
      refresh();
      const w = workerOfSymbol.get(s);
      // A worker that is restarting: whatever `latest` holds is from before the restart.
      return w !== undefined && workerReady[w] === false;
    },
    books: {
      read(symbol, levels) {
        const slot = sup.slotOf[symbol];
        if (slot === undefined || !sup.board.read(slot, view)) return null;
        const nb = Math.min(levels, view.bidCount);
        const na = Math.min(levels, view.askCount);
        const bids: [number, number][] = new Array(nb);
        const asks: [number, number][] = new Array(na);
        for (let i = 0; i < nb; i++) bids[i] = [view.bidPrice(i), view.bidQty(i)];
        for (let i = 0; i < na; i++) asks[i] = [view.askPrice(i), view.askQty(i)];
        return { symbol, health: view.health, bids, asks, timeUs: view.recvTimeUs, seq: view.seq, epoch: view.epoch };
      },
    },
    hasTrades: true,
    portfolio(account) {
      if (host === null) return null;
      const r = host.accountRisk(account);
      return r.known ? (r as unknown as Record<string, unknown>) : null;
    },
    onStaleChange: () => undefined,
    close: async () => undefined,
  };
}

// ---------------------------------------------------------------------------------------

export interface NatsSourceCounters {
  risk: number;
  portfolio: number;
  events: number;
  /** Messages that could not be decoded (dropped). */
  malformed: number;
}

export interface NatsSource extends GatewaySource {
  readonly counters: NatsSourceCounters;
  /** True while the NATS connection is up. */
  readonly connected: boolean;
}

/** Bound of the symbol set learnt from NATS (subjects carry any token). */
const MAX_SYMBOLS = 10_000;

/**
 * Fed from NATS: `risk.v1.kraken.*` (msgpack records), `portfolio.v1.*` (msgpack maps) and
 * `events.v1.>` (JSON). Connects in the background and keeps retrying, so the gateway serves
 * /healthz and a 503 /readyz while NATS is away.
 */
export function natsSource(config: Config, log: Logger): NatsSource {
  const ns = config.natsNamespace;
  const servers = config.natsUrl === null ? [] : config.natsUrl.split(',');
  const feed = new EngineFeed();
  const latest = new Map<string, MarketRisk>();
  const order: string[] = config.symbols.kind === 'list' ? [...config.symbols.symbols] : [];
  const known = new Set(order);
  const counters: NatsSourceCounters = { risk: 0, portfolio: 0, events: 0, malformed: 0 };
  const decoder = createRiskDecoder();
  const unpackr = new Unpackr({ useRecords: false });
  const staleListeners: (() => void)[] = [];
  let nc: NatsConnection | null = null;
  let up = false;
  let closed = false;
  let sawSimulated = config.simulation;
  const subs: Subscription[] = [];
  const setUp = (v: boolean) => {
    if (v === up) return;
    up = v;
    for (const fn of staleListeners) fn();
  };

  const onRisk = (data: Uint8Array) => {
    let r: MarketRisk;
    try {
      r = decoder.decode(data);
    } catch {
      counters.malformed++;
      return;
    }
    if (typeof r?.symbol !== 'string' || !SYMBOL_RE.test(r.symbol)) {
      counters.malformed++;
      return;
    }
    counters.risk++;
    if (!known.has(r.symbol)) {
      if (known.size >= MAX_SYMBOLS) {
        counters.malformed++;
        return;
      }
      known.add(r.symbol);
      order.push(r.symbol);
    }
    latest.set(r.symbol, r);
    if (r.simulated) sawSimulated = true;
    feed.emit('risk', [r]);
  };
  const onPortfolio = (data: Uint8Array) => {
    let p: unknown;
    try {
      p = unpackr.unpack(data);
    } catch {
      counters.malformed++;
      return;
    }
    // Account names as the engine allows them (switchboard ACCOUNT_RE): anything else would
    // become a channel in every `portfolio.*` subscriber.
    if (p === null || typeof p !== 'object' || typeof (p as { account?: unknown }).account !== 'string' || !ACCOUNT_RE.test((p as { account: string }).account)) {
      counters.malformed++;
      return;
    }
    counters.portfolio++;
    feed.emit('portfolio', p as FeedEvents['portfolio']);
  };
  const onEvent = (text: string) => {
    let e: unknown;
    try {
      e = JSON.parse(text);
    } catch {
      counters.malformed++;
      return;
    }
    if (e === null || typeof e !== 'object' || typeof (e as { account?: unknown }).account !== 'string' || !ACCOUNT_RE.test((e as { account: string }).account)) {
      counters.malformed++;
      return;
    }
    counters.events++;
    feed.emit('event', e as StateEvent);
  };

  const run = async () => {
    const c = await connect({ servers, name: 'aether-gateway', maxReconnectAttempts: -1, reconnectTimeWait: 500, waitOnFirstConnect: true, pingInterval: 5000 });
    if (closed) {
      await c.close();
      return;
    }
    nc = c;
    subs.push(c.subscribe(riskWildcard(ns), { callback: (err, m) => (err === null ? onRisk(m.data) : undefined) }));
    subs.push(c.subscribe(portfolioSubject(ns, '*'), { callback: (err, m) => (err === null ? onPortfolio(m.data) : undefined) }));
    subs.push(c.subscribe(eventsWildcard(ns), { callback: (err, m) => (err === null ? onEvent(m.string()) : undefined) }));
    setUp(true);
    log.info({ servers: servers.length, namespace: ns }, 'gateway: NATS connected; serving risk, account risk and events from NATS');
    for await (const s of c.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnecting') {
        if (up) log.warn({}, 'gateway: NATS disconnected: streams are marked stale until it is back');
        setUp(false);
      } else if (s.type === 'reconnect') {
        log.info({}, 'gateway: NATS reconnected');
        setUp(true);
      }
    }
    setUp(false);
  };
  const started = run().catch((err: Error) => {
    if (!closed) log.error({ err: err.message }, 'gateway: NATS connection failed');
  });

  return {
    kind: 'nats',
    /** True once any record from NATS is marked simulated (the publishing engine runs a simulation). */
    get simulated() {
      return sawSimulated;
    },
    feed,
    counters,
    get connected() {
      return up;
    },
    symbols: () => order,
    isSymbol: (s) => known.has(s) || (config.symbols.kind === 'all-usd' && SYMBOL_RE.test(s)),
    latestRisk: (s) => latest.get(s) ?? null,
    instrument(s) {
      return instrumentFrom(s, latest.get(s) ?? null, null, !up);
    },
    isStale: () => !up,
    books: null,
    hasTrades: false,
    portfolio: () => null,
    onStaleChange: (fn) => void staleListeners.push(fn),
    async close() {
      closed = true;
      for (const s of subs) s.unsubscribe();
      const c = nc as NatsConnection | null;
      if (c !== null) await c.close().catch(() => undefined);
      // A connect still waiting for its first server gives up at the next attempt.
      await Promise.race([started, new Promise((r) => setTimeout(r, 100))]);
    },
  };
}
