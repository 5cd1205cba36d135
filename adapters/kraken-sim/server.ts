/**
 * The simulated exchange: an HTTP server whose WebSocket upgrades (handled by
 * `ws` with permessage-deflate off) speak Kraken WebSocket v2 — kraken-v2.md is
 * the specification; section numbers below refer to it.
 *
 * ## Rate loop
 * One `setInterval` every TICK_MS. Each tick credits every active market with
 * `bookRatePerSymbol × elapsed` messages and generates the whole-number part,
 * round-robin across markets so symbols interleave on the wire as they would
 * live. A tick that comes late (GC, a busy client in the same process) catches
 * up at most MAX_CATCHUP_S worth; older debt is forgiven rather than bursted.
 *
 * ## Writes
 * Data frames are batched per connection and written once at the end of each
 * tick or request handler (see `Conn`), so the hundreds of frames a tick
 * produces leave in one socket write per client instead of one per frame.
 *
 * ## Backpressure (slow consumers)
 * A client whose `bufferedAmount` exceeds `slowClientBytes` (default 8 MiB) is
 * marked slow at the start of a tick. Its book updates are then not written
 * (each is counted in `stats.framesSkippedSlowClient`) and its book
 * subscriptions are marked stale; trades, tickers and heartbeats are simply
 * skipped. Once its buffer has drained below an eighth of that, it gets a fresh
 * snapshot per stale subscription (counted in `stats.slowClientResyncs`), paced
 * so the snapshots themselves cannot overflow it again — what a client sees
 * after resubscribing (§6) — so its book is correct again without any special
 * message. Server memory per client is thus bounded at about
 * `slowClientBytes` plus one tick of output, where real Kraken queues without
 * bound (§6 "Backpressure"); a client that keeps up never notices the
 * difference. Responses to requests are always sent.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { isoMicros } from './clock.js';
import { isPairStatus, resolveConfig, SimConfigError } from './config.js';
import type { SimConfig } from './config.js';
import { BookSub, Market } from './market.js';
import type { Outlet } from './market.js';
import {
  HEARTBEAT_FRAME, INSTRUMENT_WARNINGS, instrumentSnapshotFrame, instrumentUpdateFrame, MALFORMED_FRAME,
  pongFrame, responseFrame, statusFrame,
} from './protocol.js';
import type { ResponseFields, SystemStatus } from './protocol.js';
import { Rng } from './rng.js';
import type { SimExchange, SimFault, SimOptions, SimPair, SimStats } from './types.js';

const TICK_MS = 5;
const MAX_CATCHUP_S = 0.25;
/** Largest request frame accepted from a client. */
const MAX_REQUEST_BYTES = 64 * 1024;
/** Requests / greetings held back during a `stall`; beyond this they are dropped. */
const MAX_DEFERRED = 10_000;
/** Book depths Kraken serves (§3); anything else is refused. */
const BOOK_DEPTHS: ReadonlySet<number> = new Set([10, 25, 100, 500, 1000]);
const REFUSAL_429 =
  'HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\nToo Many Requests';

/** Size of a connection's outbound batch buffer (cf. nats.js, which flushes at 32 KiB). */
const BATCH_BYTES = 64 * 1024;

/**
 * One client connection.
 *
 * Data frames (book, trade, ticker, heartbeat, status, instrument) are not
 * passed to `ws.send` one by one: `send` appends the WebSocket frame —
 * header and payload — to a per-connection batch buffer, and the exchange
 * hands each batch to the socket in one write at the end of the tick or
 * request handler. That is exactly what `ws` would put on the wire (server
 * frames are unmasked, permessage-deflate is off), minus a header allocation,
 * a byte-length scan and two socket writes per frame. Measured A/B with 50
 * symbols × 1000 msg/s on one connection (2-core box, shared): batched, 47k
 * frames/s at ~50 % of a core; `ws.send` per frame, 26–51k frames/s at
 * 66–100 % — about half the CPU per frame. Anything that goes through `ws`
 * itself (responses, close) flushes the batch first, so frame order is kept.
 *
 * Data frames are ASCII by construction (symbols are validated to [A-Z0-9/],
 * everything else is numbers, fixed keys and timestamps), so one character is
 * one byte and the payload is copied with a latin1 write.
 */
class Conn implements Outlet {
  readonly ws: WebSocket;
  readonly socket: Duplex;
  /** Decimal text of a 64-bit id (> 2^53, like the live ones). */
  readonly connectionId: string;
  private readonly ex: KrakenSim;
  slow: boolean;
  staleSubs: number;
  open: boolean;
  /** Heartbeats start with the first successful subscription and then continue (§5). */
  subscribed: boolean;
  readonly book: Map<string, BookSub>;
  readonly trades: Set<Market>;
  readonly tickers: Set<Market>;
  instrument: boolean;
  /** Free tail of the batch buffer; bytes [0, used) are frames not yet written. */
  private buf: Buffer;
  private used: number;
  private queued: boolean;

  constructor(ex: KrakenSim, ws: WebSocket, socket: Duplex, connectionId: string) {
    this.ex = ex;
    this.ws = ws;
    this.socket = socket;
    this.connectionId = connectionId;
    this.slow = false;
    this.staleSubs = 0;
    this.open = true;
    this.subscribed = false;
    this.book = new Map();
    this.trades = new Set();
    this.tickers = new Set();
    this.instrument = false;
    this.buf = Buffer.allocUnsafe(BATCH_BYTES);
    this.used = 0;
    this.queued = false;
  }

  /** Queue an ASCII data frame. */
  send(frame: string): void {
    if (!this.open || this.ws.readyState !== 1) return;
    const n = frame.length;
    if (this.used + n + 10 > this.buf.length) {
      this.flush();
      if (n + 10 > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(BATCH_BYTES, n + 10));
    }
    const buf = this.buf;
    let o = this.used;
    buf[o++] = 0x81; // FIN + text frame
    if (n < 126) {
      buf[o++] = n;
    } else if (n < 65536) {
      buf[o++] = 126;
      buf[o++] = n >>> 8;
      buf[o++] = n & 0xff;
    } else {
      buf[o++] = 127;
      buf.writeUInt32BE(0, o);
      buf.writeUInt32BE(n, o + 4);
      o += 8;
    }
    this.used = o + buf.write(frame, o, 'latin1');
    this.ex.stats.framesSent++;
    if (!this.queued) {
      this.queued = true;
      this.ex.pending.push(this);
    }
  }

  sendBook(frame: string): void {
    if (!this.open || this.ws.readyState !== 1) return;
    this.send(frame);
    this.ex.stats.bookMessagesSent++;
  }

  /** A method response (may echo client text, so not assumed ASCII): through `ws`. */
  reply(frame: string): void {
    if (!this.open || this.ws.readyState !== 1) return;
    this.flush();
    this.ws.send(frame);
    this.ex.stats.framesSent++;
  }

  /** Bytes not yet written: in the socket / ws buffers plus this tick's batch. */
  get backlog(): number {
    return this.ws.bufferedAmount + this.used;
  }

  close(code: number, reason: string): void {
    this.flush();
    this.ws.close(code, reason);
  }

  /** Hand the batched frames to the socket; the rest of the buffer stays in use. */
  flush(): void {
    this.queued = false;
    if (this.used === 0) return;
    const out = this.buf.subarray(0, this.used);
    this.buf = this.buf.subarray(this.used);
    this.used = 0;
    if (this.buf.length < 1024) this.buf = Buffer.allocUnsafe(BATCH_BYTES);
    if (this.ws.readyState === 1) this.socket.write(out);
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

class KrakenSim implements SimExchange {
  readonly stats: SimStats;
  /** Connections with batched frames to flush. */
  readonly pending: Conn[];
  url: string;
  port: number;

  private readonly cfg: SimConfig;
  private readonly markets: Map<string, Market>;
  private readonly marketList: readonly Market[];
  /** Markets with at least one subscriber; recomputed when subscriptions change. */
  private active: Market[];
  private counts: Int32Array;
  private readonly conns: Set<Conn>;
  private systemStatus: SystemStatus = 'online';
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly idRng: Rng;
  private instrumentCache: string | null;

  private refuse: number;
  private stalled: boolean;
  private stallTimer: NodeJS.Timeout | null;
  private readonly deferred: (() => void)[];
  private tickTimer: NodeJS.Timeout | null;
  private heartbeatTimer: NodeJS.Timeout | null;
  private lastTick: number;
  private closed: boolean;

  constructor(cfg: SimConfig) {
    this.cfg = cfg;
    this.stats = {
      connections: 0,
      connectionsTotal: 0,
      subscribeRequests: new Map(),
      unsubscribeRequests: new Map(),
      bookMessagesSent: 0,
      framesSent: 0,
      framesSkippedSlowClient: 0,
      slowClientResyncs: 0,
    };
    this.pending = [];
    this.url = '';
    this.port = 0;
    this.markets = new Map();
    this.marketList = cfg.pairs.map((p) => new Market(p, cfg, this.stats));
    for (const m of this.marketList) this.markets.set(m.spec.symbol, m);
    this.active = [];
    this.counts = new Int32Array(0);
    this.conns = new Set();
    this.idRng = new Rng(cfg.seed ^ 0x1d);
    this.instrumentCache = null;
    this.refuse = 0;
    this.stalled = false;
    this.stallTimer = null;
    this.deferred = [];
    this.tickTimer = null;
    this.heartbeatTimer = null;
    this.lastTick = performance.now();
    this.closed = false;

    this.wss = new WebSocketServer({
      noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: MAX_REQUEST_BYTES,
    });
    this.server = http.createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.end('WebSocket upgrade required');
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      if (this.closed) {
        socket.destroy();
        return;
      }
      if (this.refuse > 0) {
        this.refuse--;
        socket.end(REFUSAL_429);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.cfg.port, this.cfg.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : this.cfg.port;
    const host = this.cfg.host.includes(':') ? `[${this.cfg.host}]` : this.cfg.host;
    this.url = `ws://${host}:${this.port}/v2`;
    this.lastTick = performance.now();
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.cfg.heartbeatMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.tickTimer = this.heartbeatTimer = this.stallTimer = null;
    this.deferred.length = 0;
    for (const c of this.conns) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---------------------------------------------------------------- faults and control

  inject(fault: SimFault): void {
    if (this.closed) return;
    switch (fault.kind) {
      case 'corrupt-checksum':
        this.market(fault.symbol).corruptNext = true;
        return;
      case 'drop-message':
        this.market(fault.symbol).dropNext = true;
        return;
      case 'disconnect':
        for (const c of this.conns) c.ws.terminate();
        return;
      case 'stall': {
        if (!Number.isFinite(fault.ms) || fault.ms < 0) throw new SimConfigError(['stall.ms must be a number >= 0']);
        this.stalled = true;
        if (this.stallTimer !== null) clearTimeout(this.stallTimer);
        this.stallTimer = setTimeout(() => this.endStall(), fault.ms);
        return;
      }
      case 'malformed':
        this.whenLive(() => {
          for (const c of this.conns) c.send(MALFORMED_FRAME);
        });
        return;
      case 'maintenance':
        this.whenLive(() => {
          for (const c of this.conns) {
            c.send(statusFrame('maintenance', c.connectionId));
            c.close(1001, 'maintenance');
          }
        });
        return;
      case 'refuse-connections':
        if (!Number.isInteger(fault.count) || fault.count < 0) {
          throw new SimConfigError(['refuse-connections.count must be an integer >= 0']);
        }
        this.refuse += fault.count;
        return;
      default: {
        const never: never = fault;
        throw new SimConfigError([`unknown fault ${JSON.stringify(never)}`]);
      }
    }
  }

  setSystemStatus(status: SystemStatus): void {
    this.systemStatus = status;
    this.whenLive(() => {
      for (const c of this.conns) c.send(statusFrame(status, c.connectionId));
    });
  }

  setPairStatus(symbol: string, status: SimPair['status']): void {
    if (!isPairStatus(status)) throw new SimConfigError([`setPairStatus: ${String(status)} is not a pair status`]);
    const m = this.market(symbol);
    m.spec.status = status;
    this.instrumentCache = null;
    const frame = instrumentUpdateFrame(m.spec);
    this.whenLive(() => {
      for (const c of this.conns) if (c.instrument) c.send(frame);
    });
  }

  private market(symbol: string): Market {
    const m = this.markets.get(symbol);
    if (m === undefined) throw new SimConfigError([`unknown symbol ${symbol}`]);
    return m;
  }

  /** Run `fn` now (then flush), or after the current stall. */
  private whenLive(fn: () => void): void {
    if (this.stalled) {
      if (this.deferred.length < MAX_DEFERRED) this.deferred.push(fn);
      return;
    }
    fn();
    this.flush();
  }

  private endStall(): void {
    this.stallTimer = null;
    this.stalled = false;
    // No burst after the stall: the market was frozen, not queued.
    this.lastTick = performance.now();
    for (const m of this.marketList) m.due = 0;
    const pending = this.deferred.splice(0);
    for (const fn of pending) fn();
    this.flush();
  }

  // ---------------------------------------------------------------- timers

  private tick(): void {
    const now = performance.now();
    let dt = (now - this.lastTick) / 1000;
    this.lastTick = now;
    if (this.stalled) return;
    this.checkBackpressure();
    const rate = this.cfg.bookRatePerSymbol;
    const active = this.active;
    if (rate > 0 && active.length > 0) {
      if (dt > MAX_CATCHUP_S) dt = MAX_CATCHUP_S;
      const counts = this.counts;
      let most = 0;
      for (let i = 0; i < active.length; i++) {
        const m = active[i] as Market;
        m.due += rate * dt;
        const n = Math.floor(m.due);
        m.due -= n;
        counts[i] = n;
        if (n > most) most = n;
      }
      for (let r = 0; r < most; r++) {
        for (let i = 0; i < active.length; i++) {
          if ((counts[i] as number) > r) (active[i] as Market).step(isoMicros());
        }
      }
    }
    this.flush();
  }

  private heartbeat(): void {
    if (this.stalled) return;
    for (const c of this.conns) if (c.subscribed && !c.slow) c.send(HEARTBEAT_FRAME);
    this.flush();
  }

  private checkBackpressure(): void {
    const limit = this.cfg.slowClientBytes;
    for (const c of this.conns) {
      const buffered = c.ws.bufferedAmount;
      if (!c.slow) {
        if (buffered > limit) c.slow = true;
      } else if (buffered < limit / 8) {
        c.slow = false;
      }
      if (c.slow || c.staleSubs === 0) continue;
      // Resync snapshots are paced: only while the backlog stays under half the
      // limit, continuing on later ticks. Sending them all at once (700 depth-1000
      // snapshots are ~40 MB) would make the client slow again at once — measured:
      // a resync storm of 2,100 snapshots in 3 s and ~1k frames/s delivered.
      for (const sub of c.book.values()) {
        if (!sub.stale) continue;
        if (c.backlog > limit / 2) break;
        sub.market.sendSnapshot(sub);
        this.stats.slowClientResyncs++;
      }
    }
  }

  private flush(): void {
    const pending = this.pending;
    for (let i = 0; i < pending.length; i++) (pending[i] as Conn).flush();
    pending.length = 0;
  }

  private refreshActive(): void {
    const next = this.marketList.filter((m) => m.active);
    for (const m of next) if (!this.active.includes(m)) m.due = 0;
    this.active = next;
    if (this.counts.length < next.length) this.counts = new Int32Array(this.marketList.length);
  }

  // ---------------------------------------------------------------- connections

  private onConnection(ws: WebSocket, socket: Duplex): void {
    if (this.closed) {
      ws.terminate();
      return;
    }
    const hi = (this.idRng.u32() | 0x80000000) >>> 0; // > 2^53, as live ids are (§5)
    const id = ((BigInt(hi) << 32n) | BigInt(this.idRng.u32())).toString();
    const conn = new Conn(this, ws, socket, id);
    this.conns.add(conn);
    this.stats.connections++;
    this.stats.connectionsTotal++;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? '' : data.toString('utf8');
      this.whenLive(() => this.onRequest(conn, text));
    });
    ws.on('close', () => this.onClose(conn));
    ws.on('error', () => {
      // A broken client socket is just a closed connection; 'close' follows.
    });
    // The status frame comes before anything else (§1).
    this.whenLive(() => conn.send(statusFrame(this.systemStatus, conn.connectionId)));
  }

  private onClose(conn: Conn): void {
    if (!conn.open) return;
    conn.open = false;
    this.conns.delete(conn);
    this.stats.connections--;
    for (const sub of conn.book.values()) sub.market.removeBookSub(sub);
    for (const m of conn.trades) m.removeTradeSub(conn);
    for (const m of conn.tickers) m.removeTickerSub(conn);
    conn.book.clear();
    conn.trades.clear();
    conn.tickers.clear();
    this.refreshActive();
  }

  // ---------------------------------------------------------------- requests (§2–§5, §9)

  private onRequest(conn: Conn, text: string): void {
    if (!conn.open) return;
    const timeIn = isoMicros();
    let req: unknown;
    try {
      req = JSON.parse(text);
    } catch {
      req = null;
    }
    // Unparseable / not a request: R-rt's documented shape (method "error", no symbol).
    if (!isObject(req) || typeof req.method !== 'string') {
      conn.reply(responseFrame('error', undefined, timeIn, { error: 'Malformed request', success: false }));
      return;
    }
    const method = req.method;
    const rawId = req.req_id;
    if (rawId !== undefined && !Number.isSafeInteger(rawId)) {
      conn.reply(responseFrame(method, undefined, timeIn, { error: 'Malformed request', success: false }));
      return;
    }
    const reqId = rawId as number | undefined;
    switch (method) {
      case 'ping':
        conn.reply(pongFrame(reqId, timeIn));
        return;
      case 'subscribe':
      case 'unsubscribe':
        this.onSubscription(conn, method, req.params, reqId, timeIn);
        return;
      default:
        // Kraken's exact text for an unknown method is unconfirmed (§16).
        conn.reply(responseFrame(method, reqId, timeIn, { error: 'Method not found', success: false }));
    }
  }

  private onSubscription(
    conn: Conn, method: 'subscribe' | 'unsubscribe', params: unknown, reqId: number | undefined, timeIn: string,
  ): void {
    const reply = (f: ResponseFields, m: string = method): void => conn.reply(responseFrame(m, reqId, timeIn, f));
    if (!isObject(params) || typeof params.channel !== 'string') {
      reply({ error: 'Malformed request', success: false });
      return;
    }
    const channel = params.channel;
    if (channel === 'instrument') {
      this.onInstrument(conn, method, params, reply);
      return;
    }
    if (channel !== 'book' && channel !== 'trade' && channel !== 'ticker') {
      reply({ error: `Channel ${channel} not supported`, success: false });
      return;
    }
    const symbols = params.symbol;
    if (!Array.isArray(symbols) || symbols.length === 0 || !symbols.every((s) => typeof s === 'string')) {
      reply({ error: 'Malformed request', success: false });
      return;
    }
    const snapshotDefault = channel !== 'trade'; // trade snapshots default to false (§10)
    const snapshot = params.snapshot ?? snapshotDefault;
    if (typeof snapshot !== 'boolean') {
      reply({ error: 'Malformed request', success: false });
      return;
    }
    const counter = method === 'subscribe' ? this.stats.subscribeRequests : this.stats.unsubscribeRequests;
    for (const s of symbols as string[]) bump(counter, `${channel}:${s}`);

    if (channel === 'book') {
      const depth = params.depth ?? 10;
      // Depth is a strict whitelist; the connection stays open (§3).
      if (typeof depth !== 'number' || !BOOK_DEPTHS.has(depth)) {
        reply({ error: 'Subscription depth not supported', success: false });
        return;
      }
      if (method === 'subscribe') this.subscribeBook(conn, symbols as string[], depth, snapshot, reply);
      else this.unsubscribeBook(conn, symbols as string[], reply);
      return;
    }
    // `event_trigger` is validated and echoed; tickers come at `tickerRatio` either way.
    let eventTrigger = 'trades';
    if (channel === 'ticker' && params.event_trigger !== undefined) {
      if (params.event_trigger !== 'bbo' && params.event_trigger !== 'trades') {
        reply({ error: 'Malformed request', success: false });
        return;
      }
      eventTrigger = params.event_trigger;
    }
    const isTrade = channel === 'trade';
    const snapshots: Market[] = [];
    for (const symbol of symbols as string[]) {
      const m = this.markets.get(symbol);
      const subs = isTrade ? conn.trades : conn.tickers;
      if (m === undefined) {
        reply({ error: `Currency pair not supported ${symbol}`, success: false, symbol });
      } else if (method === 'subscribe') {
        if (subs.has(m)) {
          reply({ error: 'Already subscribed', success: false, symbol });
          continue;
        }
        subs.add(m);
        conn.subscribed = true;
        const result = isTrade ? { channel, snapshot, symbol } : { channel, event_trigger: eventTrigger, snapshot, symbol };
        reply({ result: JSON.stringify(result), success: true });
        snapshots.push(m);
      } else if (!subs.delete(m)) {
        reply({ error: 'Subscription Not Found', success: false, symbol }, 'subscribe');
      } else {
        if (isTrade) m.removeTradeSub(conn);
        else m.removeTickerSub(conn);
        reply({ result: JSON.stringify({ channel, symbol }), success: true });
      }
    }
    // Acks first, then the snapshots / the start of the stream.
    const ts = isoMicros();
    for (const m of snapshots) {
      if (isTrade) m.addTradeSub(conn, snapshot);
      else m.addTickerSub(conn, snapshot, ts);
    }
    this.refreshActive();
  }

  private subscribeBook(
    conn: Conn, symbols: string[], depth: number, snapshot: boolean, reply: (f: ResponseFields) => void,
  ): void {
    const added: BookSub[] = [];
    for (const symbol of symbols) {
      const m = this.markets.get(symbol);
      if (m === undefined) {
        reply({ error: `Currency pair not supported ${symbol}`, success: false, symbol });
        continue;
      }
      // One book subscription per symbol per connection: frames carry no depth,
      // so a second one could not be told apart (§16 leaves Kraken's rule open).
      if (conn.book.has(symbol)) {
        reply({ error: 'Already subscribed', success: false, symbol });
        continue;
      }
      const sub = new BookSub(conn, m, depth);
      conn.book.set(symbol, sub);
      m.addBookSub(sub);
      conn.subscribed = true;
      added.push(sub);
      reply({ result: JSON.stringify({ channel: 'book', depth, snapshot, symbol }), success: true });
    }
    // One ack per symbol, then the snapshots, then updates (§3, §6).
    if (snapshot) for (const sub of added) sub.market.sendSnapshot(sub);
    this.refreshActive();
  }

  private unsubscribeBook(conn: Conn, symbols: string[], reply: (f: ResponseFields, m?: string) => void): void {
    for (const symbol of symbols) {
      const sub = conn.book.get(symbol);
      if (this.markets.get(symbol) === undefined) {
        reply({ error: `Currency pair not supported ${symbol}`, success: false, symbol });
      } else if (sub === undefined) {
        // Kraken answers this with method "subscribe" (§4, R-pks); reproduced on purpose.
        reply({ error: 'Subscription Not Found', success: false, symbol }, 'subscribe');
      } else {
        sub.market.removeBookSub(sub);
        conn.book.delete(symbol);
        reply({ result: JSON.stringify({ channel: 'book', depth: sub.depth, symbol }), success: true });
      }
    }
    this.refreshActive();
  }

  private onInstrument(
    conn: Conn, method: 'subscribe' | 'unsubscribe', params: Json, reply: (f: ResponseFields, m?: string) => void,
  ): void {
    const counter = method === 'subscribe' ? this.stats.subscribeRequests : this.stats.unsubscribeRequests;
    bump(counter, 'instrument:*');
    if (method === 'unsubscribe') {
      if (!conn.instrument) {
        reply({ error: 'Subscription Not Found', success: false }, 'subscribe');
        return;
      }
      conn.instrument = false;
      reply({ result: '{"channel":"instrument"}', success: true });
      return;
    }
    const snapshot = params.snapshot ?? true;
    if (typeof snapshot !== 'boolean') {
      reply({ error: 'Malformed request', success: false });
      return;
    }
    if (conn.instrument) {
      reply({ error: 'Already subscribed', success: false });
      return;
    }
    conn.instrument = true;
    conn.subscribed = true;
    reply({
      result: '{"channel":"instrument","snapshot":' + String(snapshot) + ',"warnings":' + INSTRUMENT_WARNINGS + '}',
      success: true,
    });
    if (snapshot) {
      if (this.instrumentCache === null) this.instrumentCache = instrumentSnapshotFrame(this.cfg.pairs);
      conn.send(this.instrumentCache);
    }
  }
}

/** Start a simulated Kraken v2 exchange; resolves once it is listening. */
export async function startSimExchange(opts: SimOptions = {}): Promise<SimExchange> {
  const sim = new KrakenSim(resolveConfig(opts));
  await sim.listen();
  return sim;
}
