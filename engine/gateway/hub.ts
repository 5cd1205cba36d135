/**
 * The gateway's fan-out core, independent of the socket library and of where data comes
 * from: per-connection subscriptions, snapshots, per-channel sequence numbers, conflation
 * (client-requested maximum rate and latest-value-only delivery for slow clients), the
 * control-message rate limit and the idle timeout. server.ts binds it to uWebSockets.js
 * through the small `Conn` interface; source.ts feeds it.
 *
 * Everything runs on one thread, synchronously, per event. Nothing a client does can delay
 * another: each connection has its own send buffer (uWS), its own pending values (at most one
 * per channel) and its own limits, and the fan-out never waits.
 */
import type { StateEvent } from '../../actors/account.js';
import { BookHealth, type MarketRisk } from '../../actors/risk.js';
import type { FeedEvents, TradeRecord } from '../feed.js';
import type { Logger } from '../logger.js';
import { gatewayMetrics as m, latencyMetrics } from '../metrics.js';
import {
  ChannelKind,
  CloseCode,
  decodeControl,
  encodeControl,
  Encoding,
  envelopeJson,
  envelopePack,
  ErrorCode,
  EVENTS_CHANNEL,
  INSTRUMENTS_CHANNEL,
  isProtocolError,
  Outgoing,
  parseChannel,
  portfolioChannel,
  PROTOCOL_VERSION,
  RefusalReason,
  riskChannel,
  bookChannel,
  tradesChannel,
  wildcardChannel,
  channelOf,
  type DataType,
  type ParsedChannel,
} from './protocol.js';
import type { GatewaySource } from './source.js';

/** What the hub needs of a connection (server.ts wraps a uWS WebSocket). */
export interface Conn {
  /** 1 sent, 0 sent but buffered (backpressure), 2 dropped (uWS limit). */
  send(msg: string | Uint8Array, binary: boolean): number;
  /** Bytes waiting in the connection's send buffer. */
  buffered(): number;
  /** Close with a close frame carrying `code`; the hub's `onClose` follows synchronously. */
  end(code: number, reason: string): void;
  ping(): void;
  cork(fn: () => void): void;
}

export interface HubLimits {
  /** Send-buffer size past which a client gets latest-value-only delivery. */
  readonly conflateBytes: number;
  /** Send-buffer size past which a client is closed (4001). */
  readonly closeBytes: number;
  /** In latest-value mode, each channel's newest value at most once per this interval. */
  readonly conflateIntervalMs: number;
  /** Control-message token bucket: refill per second and capacity. */
  readonly controlRate: number;
  readonly controlBurst: number;
  readonly idleTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Subscribed channel patterns per connection. */
  readonly maxChannels: number;
  readonly bookLevels: number;
  readonly bookIntervalMs: number;
}

export interface HubOptions {
  readonly source: GatewaySource;
  readonly limits: HubLimits;
  readonly env: string;
  readonly log: Logger;
}

const SEND_BACKPRESSURE = 0;
const SEND_DROPPED = 2;
/** Channels per subscribe/unsubscribe request. */
const MAX_CHANNELS_PER_REQUEST = 64;
const MAX_RATE_HZ = 1000;
/** Recent state events kept for the `events` snapshot. */
const EVENTS_KEPT = 100;
/** Accounts whose latest risk is cached for snapshots (a bound on a map that grows with input). */
const MAX_ACCOUNTS = 10_000;
const FLUSH_EVERY_MS = 25;
/** Longest a fan-out runs before it yields to the event loop (the rest follows at once). */
const FANOUT_SLICE_MS = 4;
/** The idle check runs at most this far apart (a quarter of a short idle timeout). */
const IDLE_CHECK_EVERY_MS = 1000;

/** An unconflated JSON update, encoded only when it is written (into the hub's scratch buffer). */
class FastUpdate {
  constructor(
    readonly out: Outgoing,
    readonly seq: number,
  ) {}
}
type Pending = string | Uint8Array | FastUpdate;

/** Per connection, per concrete channel. */
class ChannelState {
  /** Messages delivered on this channel to this connection (the last `seq` sent). */
  seq = 0;
  lastSentMs = 0;
  /** The newest update withheld by conflation, or null. */
  pending: Outgoing | null = null;
  /** Updates superseded since the last delivery on this channel. */
  skipped = 0;
  /** Nothing delivered yet: the first delivery is a snapshot built at send time. */
  needsSnapshot = true;
  /** Updates offered to this connection on this channel (delivered + skipped + pending). */
  offered = 0;

  constructor(
    readonly name: string,
    readonly kind: ChannelKind,
    readonly key: string | null,
    public minIntervalMs: number,
  ) {}
}

export class Client {
  readonly channels = new Map<string, ChannelState>();
  /** Subscribed patterns as written (`risk.*`, `risk.BTC/USD`) → minimum interval (ms, 0 = none). */
  readonly patterns = new Map<string, number>();
  /** Latest-value-only delivery (the send buffer passed the conflate threshold). */
  latest = false;
  latestFlushMs = 0;
  /** Earliest time a pending value becomes due (rate-limited channels). */
  nextDueMs = Infinity;
  tokens: number;
  refillMs: number;
  lastRecvMs: number;
  pingSentMs = 0;
  closed = false;
  sent = 0;
  conflations = 0;
  /** Messages of the current fan-out batch, written under one cork when the batch ends. */
  outbox: Pending[] = [];

  constructor(
    readonly id: number,
    readonly conn: Conn,
    readonly ip: string,
    readonly encoding: Encoding,
    /** SHA-256 (hex) of the token it authenticated with, or null when auth is off. */
    readonly tokenDigest: string | null,
    now: number,
    burst: number,
  ) {
    this.tokens = burst;
    this.refillMs = now;
    this.lastRecvMs = now;
  }
}

/** What tests and operators can see of one connection. */
export interface ClientInfo {
  readonly id: number;
  readonly ip: string;
  readonly encoding: Encoding;
  readonly latest: boolean;
  readonly buffered: number;
  readonly conflations: number;
  readonly channels: Record<string, { seq: number; offered: number; skipped: number; pending: boolean }>;
}

export class Hub {
  readonly clients = new Set<Client>();
  private readonly exact = new Map<string, Set<Client>>();
  private readonly wild = new Map<ChannelKind, Set<Client>>();
  private readonly dirty = new Set<Client>();
  private readonly lastTrade = new Map<string, TradeRecord>();
  readonly portfolios = new Map<string, Record<string, unknown>>();
  private readonly events: StateEvent[] = [];
  private readonly healthOf = new Map<string, string>();
  private readonly lastBook = new Map<string, { seq: number; epoch: number; health: string; timeUs: number }>();
  private readonly bookChannels = new Map<string, string>();
  private readonly unsubscribe: (() => void)[] = [];
  private timers: NodeJS.Timeout[] = [];
  private nextId = 1;
  private readonly src: GatewaySource;
  private readonly limits: HubLimits;
  /** Accounts not cached because MAX_ACCOUNTS was reached. */
  accountsDropped = 0;
  /** Inside a fan-out batch (one source event): writes go to each client's outbox. */
  private batchDepth = 0;
  private readonly outboxClients: Client[] = [];
  private outboxHead = 0;
  private flushScheduled = false;
  /** One reusable buffer the fast JSON updates are encoded into (uWS copies on send). */
  private readonly scratch = { buf: Buffer.allocUnsafe(64 * 1024) };

  constructor(private readonly opts: HubOptions) {
    this.src = opts.source;
    this.limits = opts.limits;
  }

  start(): void {
    const feed = this.src.feed;
    this.unsubscribe.push(
      feed.on('risk', (rs) => this.batch(() => this.onRisk(rs))),
      feed.on('trades', (ts) => this.batch(() => this.onTrades(ts))),
      feed.on('portfolio', (p) => this.batch(() => this.onPortfolio(p))),
      feed.on('event', (e) => this.batch(() => this.onEvent(e))),
    );
    this.src.onStaleChange(() => this.batch(() => this.onSourceStale()));
    for (const s of this.src.symbols()) {
      const r = this.src.latestRisk(s);
      if (r !== null) this.healthOf.set(s, r.health);
    }
    this.timers.push(setInterval(() => this.flushDue(), FLUSH_EVERY_MS));
    this.timers.push(setInterval(() => this.checkIdle(), this.idleCheckMs));
    if (this.src.books !== null) this.timers.push(setInterval(() => this.batch(() => this.pollBooks()), this.limits.bookIntervalMs));
    for (const t of this.timers) t.unref();
  }

  /** Stop fan-out and close every connection with 1001. */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const u of this.unsubscribe.splice(0)) u();
    for (const c of [...this.clients]) this.closeWith(c, CloseCode.GOING_AWAY, 'server shutting down');
  }

  // ------------------------------------------------------------------ connections

  open(conn: Conn, ip: string, encoding: Encoding, tokenDigest: string | null): Client {
    const now = Date.now();
    const c = new Client(this.nextId++, conn, ip, encoding, tokenDigest, now, this.limits.controlBurst);
    this.clients.add(c);
    m.clients.set(this.clients.size);
    m.connections.inc();
    const available = [ChannelKind.RISK, ...(this.src.books !== null ? [ChannelKind.BOOK] : []), ...(this.src.hasTrades ? [ChannelKind.TRADES] : []), ChannelKind.PORTFOLIO, ChannelKind.EVENTS, ChannelKind.INSTRUMENTS];
    this.control(c, {
      type: 'hello',
      version: PROTOCOL_VERSION,
      simulated: this.src.simulated,
      env: this.opts.env,
      source: this.src.kind,
      encoding,
      channels: available,
      limits: {
        maxMessageBytes: this.limits.maxMessageBytes,
        controlRatePerSec: this.limits.controlRate,
        controlBurst: this.limits.controlBurst,
        idleTimeoutSec: this.limits.idleTimeoutMs / 1000,
        maxChannels: this.limits.maxChannels,
        bookLevels: this.limits.bookLevels,
      },
    });
    return c;
  }

  /** The connection closed (for whatever reason): forget it. */
  onClose(c: Client): void {
    c.closed = true;
    if (!this.clients.delete(c)) return;
    for (const p of c.patterns.keys()) this.unindex(c, p);
    c.patterns.clear();
    c.channels.clear();
    this.dirty.delete(c);
    m.clients.set(this.clients.size);
  }

  onPong(c: Client): void {
    c.lastRecvMs = Date.now();
  }

  /** uWS reports that part of the send buffer went out. */
  onDrain(c: Client): void {
    if (c.closed || !c.latest) return;
    if (c.conn.buffered() <= this.limits.conflateBytes / 2) this.recover(c, Date.now());
  }

  /** Close every connection matching `pred` (token revocation). */
  closeWhere(pred: (c: Client) => boolean, code: number, reason: string, refusal: RefusalReason): number {
    let n = 0;
    for (const c of [...this.clients]) {
      if (!pred(c)) continue;
      m.refusals.inc({ reason: refusal });
      this.closeWith(c, code, reason);
      n++;
    }
    return n;
  }

  info(): ClientInfo[] {
    return [...this.clients].map((c) => ({
      id: c.id,
      ip: c.ip,
      encoding: c.encoding,
      latest: c.latest,
      buffered: c.closed ? 0 : c.conn.buffered(),
      conflations: c.conflations,
      channels: Object.fromEntries([...c.channels].map(([k, s]) => [k, { seq: s.seq, offered: s.offered, skipped: s.skipped, pending: s.pending !== null || s.needsSnapshot }])),
    }));
  }

  // ------------------------------------------------------------------ inbound control messages

  onMessage(c: Client, data: ArrayBuffer, isBinary: boolean): void {
    if (c.closed) return;
    const now = Date.now();
    c.lastRecvMs = now;
    if (data.byteLength > this.limits.maxMessageBytes) {
      m.refusals.inc({ reason: RefusalReason.MESSAGE_TOO_BIG });
      this.closeWith(c, CloseCode.MESSAGE_TOO_BIG, `message larger than ${this.limits.maxMessageBytes} bytes`);
      return;
    }
    // Token bucket: each message costs one token. Without a token the message is refused (and
    // answered); the debt may grow to one burst, then the connection is closed.
    c.tokens = Math.min(this.limits.controlBurst, c.tokens + ((now - c.refillMs) * this.limits.controlRate) / 1000);
    c.refillMs = now;
    c.tokens -= 1;
    if (c.tokens < 0) {
      if (c.tokens < -this.limits.controlBurst) {
        m.refusals.inc({ reason: RefusalReason.RATE_LIMITED });
        this.closeWith(c, CloseCode.RATE_LIMITED, 'control-message rate limit exceeded');
        return;
      }
      this.error(c, null, ErrorCode.RATE_LIMITED, `more than ${this.limits.controlRate} control messages per second (burst ${this.limits.controlBurst}): message ignored; keep flooding and the connection is closed (${CloseCode.RATE_LIMITED})`);
      return;
    }
    let msg: unknown;
    try {
      msg = decodeControl(data, isBinary);
    } catch {
      m.controlMessages.inc({ op: 'invalid' });
      return this.error(c, null, ErrorCode.BAD_REQUEST, `the message is not valid ${isBinary ? 'msgpack' : 'JSON'}; control messages are objects such as {"op":"ping","id":1}`);
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      m.controlMessages.inc({ op: 'invalid' });
      return this.error(c, null, ErrorCode.BAD_REQUEST, 'a control message is a JSON object with an "op"');
    }
    const req = msg as Record<string, unknown>;
    const id = req.id ?? null;
    switch (req.op) {
      case 'subscribe':
        m.controlMessages.inc({ op: 'subscribe' });
        return this.subscribe(c, id, req, now);
      case 'unsubscribe':
        m.controlMessages.inc({ op: 'unsubscribe' });
        return this.unsubscribeReq(c, id, req);
      case 'ping':
        m.controlMessages.inc({ op: 'ping' });
        return this.control(c, { type: 'pong', id, timeUs: now * 1000 });
      default:
        m.controlMessages.inc({ op: 'invalid' });
        return this.error(c, id, ErrorCode.BAD_REQUEST, `unknown op ${JSON.stringify(req.op ?? null)}: use subscribe, unsubscribe or ping`);
    }
  }

  private parseChannels(c: Client, id: unknown, raw: unknown): ParsedChannel[] | null {
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_CHANNELS_PER_REQUEST) {
      this.error(c, id, ErrorCode.BAD_REQUEST, `"channels" must be an array of 1 to ${MAX_CHANNELS_PER_REQUEST} channel names`);
      return null;
    }
    const out: ParsedChannel[] = [];
    for (const name of raw) {
      const p = parseChannel(name);
      if (isProtocolError(p)) {
        this.error(c, id, p.code, p.reason);
        return null;
      }
      out.push(p);
    }
    return out;
  }

  private subscribe(c: Client, id: unknown, req: Record<string, unknown>, now: number): void {
    const parsed = this.parseChannels(c, id, req.channels);
    if (parsed === null) return;
    const hz = req.maxRateHz;
    if (hz !== undefined && hz !== null && (typeof hz !== 'number' || !Number.isFinite(hz) || hz < 0 || hz > MAX_RATE_HZ)) {
      return this.error(c, id, ErrorCode.BAD_REQUEST, `"maxRateHz" must be a number from 0 to ${MAX_RATE_HZ} (0 or absent: every update)`);
    }
    const interval = typeof hz === 'number' && hz > 0 ? 1000 / hz : 0;
    // All or nothing: a request with one bad channel subscribes none.
    for (const p of parsed) {
      if (p.kind === ChannelKind.BOOK && this.src.books === null) return this.error(c, id, ErrorCode.UNAVAILABLE, `${p.name}: order books are served only by the gateway embedded in the engine (this one is fed from NATS)`);
      if (p.kind === ChannelKind.TRADES && !this.src.hasTrades) return this.error(c, id, ErrorCode.UNAVAILABLE, `${p.name}: trades are served only by the gateway embedded in the engine (this one is fed from NATS)`);
      if (p.key !== null && p.kind !== ChannelKind.PORTFOLIO && !this.src.isSymbol(p.key)) {
        return this.error(c, id, ErrorCode.UNKNOWN_CHANNEL, `${p.name}: ${p.key} is not an instrument of this engine (GET /v1/instruments lists them)`);
      }
    }
    const added = new Set(parsed.map((p) => p.name).filter((n) => !c.patterns.has(n)));
    if (c.patterns.size + added.size > this.limits.maxChannels) {
      return this.error(c, id, ErrorCode.TOO_MANY_CHANNELS, `at most ${this.limits.maxChannels} subscribed channels per connection (use a wildcard such as risk.*)`);
    }
    const fresh: ChannelState[] = [];
    for (const p of parsed) {
      c.patterns.set(p.name, interval);
      this.index(c, p);
      const keys = p.wildcard ? this.keysOf(p.kind) : [p.key];
      for (const key of keys) {
        const name = channelOf(p.kind, key);
        const st = c.channels.get(name);
        if (st !== undefined) {
          // Already delivered (e.g. through a wildcard): the exact subscription's rate wins.
          if (!p.wildcard || !c.patterns.has(name)) st.minIntervalMs = interval;
          continue;
        }
        const ns = new ChannelState(name, p.kind, key, this.intervalFor(c, name, p.kind));
        c.channels.set(name, ns);
        fresh.push(ns);
      }
    }
    c.conn.cork(() => {
      this.control(c, { type: 'subscribed', id, channels: parsed.map((p) => p.name) });
      for (const st of fresh) {
        if (c.closed) return;
        if (c.latest) {
          this.dirty.add(c);
          c.nextDueMs = 0;
        } else this.sendSnapshot(c, st, now);
      }
    });
  }

  private unsubscribeReq(c: Client, id: unknown, req: Record<string, unknown>): void {
    const parsed = this.parseChannels(c, id, req.channels);
    if (parsed === null) return;
    for (const p of parsed) {
      if (!c.patterns.delete(p.name)) continue;
      this.unindex(c, p.name);
    }
    for (const [name, st] of c.channels) if (!this.covered(c, name, st.kind)) c.channels.delete(name);
    this.control(c, { type: 'unsubscribed', id, channels: parsed.map((p) => p.name) });
  }

  private covered(c: Client, name: string, kind: ChannelKind): boolean {
    return c.patterns.has(name) || c.patterns.has(wildcardChannel(kind));
  }

  private intervalFor(c: Client, name: string, kind: ChannelKind): number {
    return c.patterns.get(name) ?? c.patterns.get(wildcardChannel(kind)) ?? 0;
  }

  private keysOf(kind: ChannelKind): string[] {
    if (kind === ChannelKind.PORTFOLIO) return [...this.portfolios.keys()];
    return [...this.src.symbols()];
  }

  private index(c: Client, p: ParsedChannel): void {
    if (p.wildcard) {
      let set = this.wild.get(p.kind);
      if (set === undefined) this.wild.set(p.kind, (set = new Set()));
      set.add(c);
    } else {
      let set = this.exact.get(p.name);
      if (set === undefined) this.exact.set(p.name, (set = new Set()));
      set.add(c);
    }
  }

  private unindex(c: Client, pattern: string): void {
    const p = parseChannel(pattern);
    if (isProtocolError(p)) return;
    const map = p.wildcard ? this.wild : this.exact;
    const key = p.wildcard ? p.kind : p.name;
    const set = (map as Map<string, Set<Client>>).get(key);
    set?.delete(c);
    if (set?.size === 0) (map as Map<string, Set<Client>>).delete(key);
  }

  // ------------------------------------------------------------------ sources → fan-out

  private onRisk(records: readonly MarketRisk[]): void {
    const nowUs = Date.now() * 1000;
    let instrumentsChanged = false;
    for (const r of records) {
      if (this.src.kind === 'embedded' && r.recvTimeUs > 0) latencyMetrics.riskDelivery.observe(Math.max(0, nowUs - r.recvTimeUs) / 1e6);
      if (this.healthOf.get(r.symbol) !== r.health) {
        this.healthOf.set(r.symbol, r.health);
        instrumentsChanged = true;
      }
      this.publish(riskChannel(r.symbol), ChannelKind.RISK, r.symbol, r, r.health !== BookHealth.LIVE || this.src.isStale(r.symbol));
    }
    if (instrumentsChanged) this.publishInstruments();
  }

  private onTrades(trades: readonly TradeRecord[]): void {
    for (const t of trades) {
      this.lastTrade.set(t.symbol, t);
      this.publish(tradesChannel(t.symbol), ChannelKind.TRADES, t.symbol, t, this.healthOf.get(t.symbol) !== BookHealth.LIVE);
    }
  }

  private onPortfolio(p: FeedEvents['portfolio']): void {
    const account = p.account;
    if (!this.portfolios.has(account) && this.portfolios.size >= MAX_ACCOUNTS) this.accountsDropped++;
    else this.portfolios.set(account, p);
    this.publish(portfolioChannel(account), ChannelKind.PORTFOLIO, account, p, this.portfolioStale(p));
  }

  private onEvent(e: StateEvent): void {
    this.events.push(e);
    if (this.events.length > EVENTS_KEPT) this.events.shift();
    this.publish(EVENTS_CHANNEL, ChannelKind.EVENTS, null, e, this.src.isStale());
  }

  /** The source's connection flipped: re-send every risk channel, account and the instrument list with the new stale mark. */
  private onSourceStale(): void {
    for (const s of this.src.symbols()) {
      const r = this.src.latestRisk(s);
      if (r !== null) this.publish(riskChannel(s), ChannelKind.RISK, s, r, r.health !== BookHealth.LIVE || this.src.isStale(s));
    }
    for (const [account, p] of this.portfolios) this.publish(portfolioChannel(account), ChannelKind.PORTFOLIO, account, p, this.portfolioStale(p));
    this.publishInstruments();
  }

  private publishInstruments(): void {
    this.publish(INSTRUMENTS_CHANNEL, ChannelKind.INSTRUMENTS, null, this.instruments(), this.src.isStale());
  }

  instruments(): unknown[] {
    return this.src.symbols().map((s) => this.src.instrument(s));
  }

  private portfolioStale(p: Record<string, unknown>): boolean {
    if (this.src.isStale()) return true;
    const positions = p.positions;
    return Array.isArray(positions) && positions.some((x) => x !== null && typeof x === 'object' && (x as { health?: unknown }).health !== null && (x as { health?: unknown }).health !== BookHealth.LIVE);
  }

  /** Poll the market board for books with subscribers; publish the ones that changed. */
  private pollBooks(): void {
    const books = this.src.books;
    if (books === null) return;
    const all = (this.wild.get(ChannelKind.BOOK)?.size ?? 0) > 0;
    for (const s of this.src.symbols()) {
      let ch = this.bookChannels.get(s);
      if (ch === undefined) this.bookChannels.set(s, (ch = bookChannel(s)));
      if (!all && !this.exact.has(ch)) continue;
      const b = books.read(s, this.limits.bookLevels);
      if (b === null) continue;
      const last = this.lastBook.get(s);
      if (last !== undefined && last.seq === b.seq && last.epoch === b.epoch && last.health === b.health && last.timeUs === b.timeUs) continue;
      this.lastBook.set(s, { seq: b.seq, epoch: b.epoch, health: b.health, timeUs: b.timeUs });
      this.publish(ch, ChannelKind.BOOK, s, b, b.health !== BookHealth.LIVE || this.src.isStale(s));
    }
  }

  /** The data of a channel's snapshot, built now from the caches and the source. */
  private snapshotOf(kind: ChannelKind, key: string | null): { data: unknown; stale: boolean } {
    switch (kind) {
      case ChannelKind.RISK: {
        const r = this.src.latestRisk(key!);
        return { data: r, stale: r === null || r.health !== BookHealth.LIVE || this.src.isStale(key!) };
      }
      case ChannelKind.BOOK: {
        const b = this.src.books?.read(key!, this.limits.bookLevels) ?? null;
        return { data: b, stale: b === null || b.health !== BookHealth.LIVE || this.src.isStale(key!) };
      }
      case ChannelKind.TRADES:
        return { data: this.lastTrade.get(key!) ?? null, stale: this.healthOf.get(key!) !== BookHealth.LIVE };
      case ChannelKind.PORTFOLIO: {
        const p = this.portfolios.get(key!) ?? this.src.portfolio(key!);
        return { data: p, stale: p === null || this.portfolioStale(p) };
      }
      case ChannelKind.EVENTS:
        return { data: [...this.events], stale: this.src.isStale() };
      case ChannelKind.INSTRUMENTS:
        return { data: this.instruments(), stale: this.src.isStale() };
    }
  }

  /** Offer one update to every subscriber of its channel; encoded at most once per encoding. */
  private publish(channel: string, kind: ChannelKind, key: string | null, data: unknown, stale: boolean): void {
    const exact = this.exact.get(channel);
    const wild = key === null ? undefined : this.wild.get(kind);
    if (exact === undefined && wild === undefined) return;
    m.updates.inc({ kind });
    const out = new Outgoing(channel, data, stale);
    const now = Date.now();
    if (exact !== undefined) for (const c of exact) this.offer(c, out, kind, key, now);
    if (wild !== undefined) for (const c of wild) if (exact === undefined || !exact.has(c)) this.offer(c, out, kind, key, now);
  }

  private offer(c: Client, out: Outgoing, kind: ChannelKind, key: string | null, now: number): void {
    if (c.closed) return;
    let st = c.channels.get(out.channel);
    if (st === undefined) {
      // A channel that appeared after a wildcard subscription: it starts with a snapshot.
      st = new ChannelState(out.channel, kind, key, this.intervalFor(c, out.channel, kind));
      c.channels.set(out.channel, st);
    }
    st.offered++;
    if (st.needsSnapshot) {
      // The snapshot, built when it goes out, already contains this update.
      if (c.latest) this.markDue(c, 0);
      else this.sendSnapshot(c, st, now);
      return;
    }
    const rateLimited = st.minIntervalMs > 0 && now - st.lastSentMs < st.minIntervalMs;
    if (c.latest || rateLimited) {
      if (st.pending !== null) {
        st.skipped++;
        m.conflatedUpdates.inc({ cause: c.latest ? 'backpressure' : 'rate' });
      }
      st.pending = out;
      this.markDue(c, c.latest ? c.latestFlushMs + this.limits.conflateIntervalMs : st.lastSentMs + st.minIntervalMs);
      return;
    }
    if (st.pending !== null) {
      // Due but not flushed yet: this newer value supersedes it.
      st.skipped++;
      st.pending = null;
      m.conflatedUpdates.inc({ cause: 'rate' });
    }
    this.sendData(c, st, 'update', out, now);
  }

  private markDue(c: Client, at: number): void {
    if (at < c.nextDueMs) c.nextDueMs = at;
    this.dirty.add(c);
  }

  private sendSnapshot(c: Client, st: ChannelState, now: number): boolean {
    const s = this.snapshotOf(st.kind, st.key);
    st.pending = null;
    st.skipped = 0;
    return this.sendData(c, st, 'snapshot', new Outgoing(st.name, s.data, s.stale), now);
  }

  private sendData(c: Client, st: ChannelState, type: DataType, out: Outgoing, now: number): boolean {
    const seq = st.seq + 1;
    const conflated = st.skipped > 0;
    const sim = this.src.simulated;
    const msg: Pending =
      c.encoding === Encoding.JSON
        ? type === 'update' && !conflated
          ? new FastUpdate(out, seq)
          : envelopeJson(type, out, seq, sim, conflated, st.skipped)
        : envelopePack(type, out, seq, sim, conflated, st.skipped);
    if (!this.write(c, msg, now)) return false;
    st.seq = seq;
    st.skipped = 0;
    st.pending = null;
    st.needsSnapshot = false;
    st.lastSentMs = now;
    return true;
  }

  private control(c: Client, msg: Record<string, unknown>): void {
    this.write(c, encodeControl(msg, c.encoding), Date.now());
  }

  private error(c: Client, id: unknown, code: ErrorCode, reason: string): void {
    m.errors.inc({ code });
    this.control(c, { type: 'error', id, code, reason });
  }

  /**
   * One source event's fan-out as a batch: every message it produces for a client is queued
   * and written when the batch ends, under one cork per client — one socket write per client
   * instead of one per message (a report of 20 instruments to 1,000 clients is 20,000
   * messages but 1,000 writes).
   */
  private batch(fn: () => void): void {
    this.batchDepth++;
    try {
      fn();
    } finally {
      if (--this.batchDepth === 0 && !this.flushScheduled) this.flushOutboxes();
    }
  }

  /**
   * Write the queued messages, client by client. A large fan-out is spread over turns of the
   * event loop (at most FANOUT_SLICE_MS at a time) so that timers, drains and other clients'
   * messages are not held up behind it; a client's messages stay in order (anything written to
   * a client with queued messages joins its queue).
   */
  private flushOutboxes(): void {
    if (this.flushScheduled) return;
    const now = Date.now();
    const t0 = performance.now();
    const q = this.outboxClients;
    let i = this.outboxHead;
    for (; i < q.length; i++) {
      const c = q[i]!;
      const msgs = c.outbox;
      c.outbox = [];
      if (!c.closed && msgs.length > 0) {
        c.conn.cork(() => {
          for (const msg of msgs) if (!this.writeNow(c, msg, now)) break;
        });
      }
      if ((i & 15) === 15 && performance.now() - t0 > FANOUT_SLICE_MS) {
        i++;
        break;
      }
    }
    if (i < q.length) {
      this.outboxHead = i;
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flushOutboxes();
      });
      return;
    }
    q.length = 0;
    this.outboxHead = 0;
  }

  /** Every send goes through here (queued inside a batch, written at once otherwise). */
  private write(c: Client, msg: Pending, now: number): boolean {
    if (c.closed) return false;
    if (this.batchDepth > 0 || c.outbox.length > 0) {
      if (c.outbox.length === 0) this.outboxClients.push(c);
      c.outbox.push(msg);
      return true;
    }
    return this.writeNow(c, msg, now);
  }

  /** The hard limit, uWS drops, and the switch to latest-value mode. */
  private writeNow(c: Client, msg: Pending, now: number): boolean {
    if (c.closed) return false;
    const conn = c.conn;
    if (conn.buffered() > this.limits.closeBytes) {
      this.closeSlow(c);
      return false;
    }
    let status: number;
    if (msg instanceof FastUpdate) {
      const len = msg.out.encodeUpdateJson(msg.seq, this.src.simulated, this.scratch);
      status = conn.send(this.scratch.buf.subarray(0, len), false);
    } else status = conn.send(msg, c.encoding === Encoding.MSGPACK);
    if (status === SEND_DROPPED) {
      m.sendDropped.inc();
      this.closeSlow(c);
      return false;
    }
    c.sent++;
    m.messagesSent.inc();
    if (status === SEND_BACKPRESSURE && !c.latest && conn.buffered() > this.limits.conflateBytes) {
      c.latest = true;
      c.latestFlushMs = now;
      c.conflations++;
      m.conflations.inc();
      this.dirty.add(c);
    }
    return true;
  }

  private closeSlow(c: Client): void {
    m.slowClientCloses.inc();
    this.closeWith(c, CloseCode.SLOW_CONSUMER, 'slow consumer: send buffer over the limit');
  }

  private closeWith(c: Client, code: number, reason: string): void {
    if (c.closed) return;
    c.closed = true;
    try {
      c.conn.end(code, reason);
    } finally {
      this.onClose(c);
    }
  }

  // ------------------------------------------------------------------ timers

  /** Deliver pending values that are due; watch clients in latest-value mode. */
  private flushDue(): void {
    if (this.dirty.size === 0) return;
    const now = Date.now();
    for (const c of this.dirty) {
      if (c.closed) {
        this.dirty.delete(c);
        continue;
      }
      if (c.latest) {
        const b = c.conn.buffered();
        if (b > this.limits.closeBytes) {
          this.closeSlow(c);
          continue;
        }
        if (b <= this.limits.conflateBytes / 2) this.recover(c, now);
        else if (now - c.latestFlushMs >= this.limits.conflateIntervalMs) {
          c.latestFlushMs = now;
          this.flushClient(c, now);
        }
        continue; // stays watched while in latest-value mode
      }
      if (c.nextDueMs <= now) this.flushClient(c, now);
      if (c.nextDueMs === Infinity && !c.latest) this.dirty.delete(c);
    }
  }

  /** Leave latest-value mode: flush what is pending; stay out if the buffer stays low. */
  private recover(c: Client, now: number): void {
    c.latestFlushMs = now;
    this.flushClient(c, now);
    if (!c.closed && c.conn.buffered() <= this.limits.conflateBytes / 2) {
      c.latest = false;
      if (c.nextDueMs === Infinity) this.dirty.delete(c);
    }
  }

  /** Send every pending value whose channel rate allows it; recompute the next due time. */
  private flushClient(c: Client, now: number): void {
    let next = Infinity;
    c.conn.cork(() => {
      for (const st of c.channels.values()) {
        if (c.closed) return;
        if (!st.needsSnapshot && st.pending === null) continue;
        const due = st.lastSentMs + st.minIntervalMs;
        if (st.minIntervalMs > 0 && due > now) {
          if (due < next) next = due;
          continue;
        }
        if (st.needsSnapshot) this.sendSnapshot(c, st, now);
        else this.sendData(c, st, 'update', st.pending!, now);
      }
    });
    c.nextDueMs = next;
  }

  /** Idle timeout: ping a quiet client at half the timeout, close it at the timeout. */
  private lastIdleCheckMs = Date.now();
  private get idleCheckMs(): number {
    return Math.min(IDLE_CHECK_EVERY_MS, Math.max(100, Math.floor(this.limits.idleTimeoutMs / 4)));
  }
  private checkIdle(): void {
    const now = Date.now();
    // After a stall of this thread (a long GC, an overloaded machine) clients' answers may be
    // waiting unread: close nobody this round, start counting again.
    const stalled = now - this.lastIdleCheckMs > Math.max(1000, 3 * this.idleCheckMs);
    this.lastIdleCheckMs = now;
    if (stalled) {
      for (const c of this.clients) if (c.lastRecvMs < now - this.limits.idleTimeoutMs / 2) c.lastRecvMs = now - this.limits.idleTimeoutMs / 2;
      return;
    }
    const limit = this.limits.idleTimeoutMs;
    for (const c of [...this.clients]) {
      const idle = now - c.lastRecvMs;
      if (idle > limit) {
        m.refusals.inc({ reason: RefusalReason.IDLE_TIMEOUT });
        this.closeWith(c, CloseCode.IDLE_TIMEOUT, `idle timeout: nothing received for ${Math.round(limit / 1000)} s`);
      } else if (idle > limit / 3 && c.pingSentMs <= c.lastRecvMs) {
        c.pingSentMs = now;
        c.conn.ping();
      }
    }
  }
}
