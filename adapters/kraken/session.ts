/**
 * The Kraken WebSocket v2 protocol state for one connection, without the socket: frames go
 * in (`onFrame`), requests come out (`send`), risk comes out (`onRisk`). The live client
 * (client.ts) and replay (engine/commands/replay.ts) drive the same session, so replay
 * exercises exactly the live parse → book → checksum → risk path.
 *
 * Per connection: status first; then the `instrument` channel (precisions and pair status,
 * re-read on every update); then `book` at the configured depth plus `trade` and `ticker`
 * for this connection's symbols, in batches. A checksum mismatch puts that symbol alone into
 * RESYNCING and sends one unsubscribe + subscribe for it, paced with backoff and jitter.
 */
import { ApplyResult } from '../../actors/book.js';
import { InstrumentActor, type MarketRiskParams } from '../../actors/instrument.js';
import { LevelBatch } from '../../actors/levels.js';
import { BookHealth } from '../../actors/risk.js';
import type { Clock, Timers } from '../../engine/clock.js';
import { LogLimiter, type Log } from '../../engine/ports.js';
import { endSpan, SpanName, startSpan, type Span } from '../../engine/tracing.js';
import { BookScanner, fillBatchFromObject, isTickerFrame, parseLossless, parseTimestampText, TradeBatch, TradeScanner } from './parser.js';

export const KRAKEN_DEPTHS = [10, 25, 100, 500, 1000] as const;
/** Kraken's depth when a subscribe names none. */
export const KRAKEN_DEFAULT_DEPTH = 10;
/** Symbols per subscribe request (Kraken acks each symbol separately). */
const SUBSCRIBE_BATCH = 50;
/** A symbol LIVE this long has its resync backoff reset. */
const RESYNC_RESET_US = 60_000_000;
const RESYNC_BASE_MS = 1000;
const RESYNC_CAP_MS = 60_000;
/** Subscribe anyway if an unsubscribe ack does not arrive within this time. */
const UNSUBSCRIBE_ACK_TIMEOUT_MS = 2000;

export interface SessionCounters {
  frames: number;
  bookFrames: number;
  scannerFallbacks: number;
  malformed: number;
  unexpected: number;
  unknownSymbol: number;
  heartbeats: number;
  trades: number;
  tickers: number;
  subscribeErrors: number;
}

export interface SessionOptions {
  /** Book depth to subscribe (and the default depth in replay). */
  depth: number;
  simulated: boolean;
  mode: 'live' | 'replay';
  clock: Clock;
  timers: Timers;
  log: Log;
  /** A risk record changed (book, trade or health). */
  onRisk(actor: InstrumentActor): void;
  /** Send one request to the venue (live); replay passes a no-op. */
  send(request: Record<string, unknown>): void;
  /** Fixed precisions (replay `--precision`), taking precedence over instrument frames. */
  precision?: ReadonlyMap<string, { price: number; qty: number }>;
  /** Replay: create an actor for every symbol seen in the stream. */
  autoCreate?: boolean;
  /** Replay with --depth: the given depth wins over the depth in subscribe acks. */
  depthFixed?: boolean;
  /** Per-instrument analytics parameters (volatility, flow window, clip). */
  params?: MarketRiskParams;
  /** Called with the system status on each status frame. */
  onStatus?(system: string): void;
  /** Each trade after it reached its actor (side 1 buy, -1 sell; tradeId -1 when absent). */
  onTrade?(actor: InstrumentActor, tradeId: number, side: number, price: number, qty: number, timeUs: number, recvUs: number, priceText: string, qtyText: string): void;
}

interface ResyncState {
  attempts: number;
  timer: unknown;
  ackTimer: unknown;
  awaitingUnsubscribeAck: boolean;
  /** When the book last became LIVE after a resync (µs), or -1. */
  liveSinceUs: number;
  /** Tracing span from the desync to LIVE again (a no-op span without an OpenTelemetry SDK). */
  span: Span | null;
}

export class KrakenSession {
  readonly actors = new Map<string, InstrumentActor>();
  readonly counters: SessionCounters = {
    frames: 0,
    bookFrames: 0,
    scannerFallbacks: 0,
    malformed: 0,
    unexpected: 0,
    unknownSymbol: 0,
    heartbeats: 0,
    trades: 0,
    tickers: 0,
    subscribeErrors: 0,
  };
  systemStatus = 'unknown';
  /** Pair status per symbol from the instrument channel. */
  readonly pairStatus = new Map<string, string>();
  private readonly scanner = new BookScanner();
  private readonly batch = new LevelBatch(64);
  private readonly tradeScanner = new TradeScanner();
  private readonly trades = new TradeBatch();
  private readonly limiter: LogLimiter;
  private readonly resync = new Map<string, ResyncState>();
  /** Requests awaiting acks (req_id → what was asked); bounded, pruned as symbols are acked. */
  private readonly requests = new Map<number, { method: string; channel: string; symbols: string[] }>();
  private readonly ackDepth = new Map<string, number>();
  private reqId = 1;
  private instrumentReady = false;
  private instrumentRequested = false;
  private subscribed = false;

  constructor(
    symbols: readonly string[],
    private readonly opts: SessionOptions,
  ) {
    this.limiter = new LogLimiter(opts.log);
    for (const s of symbols) this.addActor(s, opts.depth);
  }

  private depthFor(symbol: string): number {
    return this.opts.depthFixed === true ? this.opts.depth : (this.ackDepth.get(symbol) ?? this.opts.depth);
  }

  private addActor(symbol: string, depth: number): InstrumentActor {
    const a = new InstrumentActor(symbol, depth, this.opts.simulated, this.opts.clock.nowUs(), this.opts.params);
    const fixed = this.opts.precision?.get(symbol);
    if (fixed !== undefined) a.setPrecision(fixed.price, fixed.qty);
    this.actors.set(symbol, a);
    return a;
  }

  // ------------------------------------------------------------------ connection lifecycle

  /** A new connection is open: every book starts over from a fresh snapshot. */
  onOpen(): void {
    this.systemStatus = 'unknown';
    this.instrumentReady = false;
    this.instrumentRequested = false;
    this.subscribed = false;
    this.requests.clear();
    this.clearResyncs();
    for (const a of this.actors.values()) {
      if (a.health !== BookHealth.REJECTED) this.transition(a, BookHealth.SYNCING, 'connecting');
    }
  }

  /** The connection is gone (closed, dead, or failed to open). */
  onClose(reason: string): void {
    this.clearResyncs();
    for (const a of this.actors.values()) {
      if (a.health !== BookHealth.REJECTED) this.transition(a, BookHealth.STALE, reason);
    }
  }

  private clearResyncs(): void {
    for (const r of this.resync.values()) {
      if (r.timer !== null) this.opts.timers.clearTimeout(r.timer);
      if (r.ackTimer !== null) this.opts.timers.clearTimeout(r.ackTimer);
      r.timer = r.ackTimer = null;
      if (r.span !== null) endSpan(r.span, 'connection closed');
      r.span = null;
      r.awaitingUnsubscribeAck = false;
    }
  }

  // ------------------------------------------------------------------ frames

  /** One WebSocket text frame, as received. Never throws on bad input. */
  onFrame(frame: Buffer, recvUs: number): void {
    this.counters.frames++;
    const batch = this.batch;
    if (this.scanner.scan(frame, batch)) {
      this.counters.bookFrames++;
      this.onBatch(batch, recvUs);
      return;
    }
    if (this.tradeScanner.scan(frame, this.trades)) {
      const tb = this.trades;
      for (let i = 0; i < tb.count; i++) this.onTrade(tb.symbol[i]!, tb.price[i]!, tb.qty[i]!, tb.side[i]!, tb.timeUs[i]!, recvUs, tb.tradeId[i]!, tb.priceText[i]!, tb.qtyText[i]!);
      return;
    }
    if (isTickerFrame(frame)) {
      this.counters.tickers++;
      return;
    }
    let msg: unknown;
    try {
      msg = parseLossless(frame.toString('utf8'));
    } catch (err) {
      this.counters.malformed++;
      this.limiter.warn('malformed', { err: (err as Error).message, frame: preview(frame) }, 'malformed frame from Kraken (ignored)');
      return;
    }
    try {
      this.onMessage(msg, recvUs);
    } catch (err) {
      // A frame that is valid JSON but breaks an assumption: count it, keep the worker alive.
      this.counters.unexpected++;
      this.limiter.error('unexpected', { err: (err as Error).message, frame: preview(frame) }, 'unexpected frame from Kraken (ignored)');
    }
  }

  private onMessage(msg: unknown, recvUs: number): void {
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return this.unexpected(msg, 'not an object');
    const m = msg as Record<string, unknown>;
    if (typeof m.method === 'string') return this.onResponse(m);
    switch (m.channel) {
      case 'book':
        return this.onBookObject(m, recvUs);
      case 'heartbeat':
        this.counters.heartbeats++;
        return;
      case 'trade':
        return this.onTrades(m, recvUs);
      case 'ticker':
        this.counters.tickers++;
        return;
      case 'status':
        return this.onStatusFrame(m);
      case 'instrument':
        return this.onInstrument(m);
      default:
        return this.unexpected(m, 'unknown channel');
    }
  }

  private unexpected(m: unknown, why: string): void {
    this.counters.unexpected++;
    this.limiter.warn(`unexpected:${why}`, { why, frame: preview(JSON.stringify(m) ?? '') }, 'unexpected frame from Kraken (ignored)');
  }

  private onBookObject(m: Record<string, unknown>, recvUs: number): void {
    if (!Array.isArray(m.data) || (m.type !== 'snapshot' && m.type !== 'update')) return this.unexpected(m, 'bad book frame');
    this.counters.scannerFallbacks++;
    for (const el of m.data as unknown[]) {
      if (el === null || typeof el !== 'object') return this.unexpected(m, 'bad book element');
      const err = fillBatchFromObject(el as Record<string, unknown>, m.type === 'snapshot', this.batch);
      if (err !== null) {
        this.counters.malformed++;
        this.limiter.warn('bad-book', { err }, 'malformed book message from Kraken (ignored)');
        const sym = (el as { symbol?: unknown }).symbol;
        const a = typeof sym === 'string' ? this.actors.get(sym) : undefined;
        // A book message we cannot read leaves the book unknowable: resync it (a HALTED
        // instrument is rebuilt when it comes back online anyway).
        if (a !== undefined && a.health !== BookHealth.REJECTED && a.health !== BookHealth.HALTED && a.health !== BookHealth.STALE) {
          this.transition(a, BookHealth.RESYNCING, 'unreadable book message');
          a.book?.clear();
          this.requestResync(a);
        }
        continue;
      }
      this.counters.bookFrames++;
      this.onBatch(this.batch, recvUs);
    }
  }

  private onBatch(batch: LevelBatch, recvUs: number): void {
    let actor = this.actors.get(batch.symbol);
    if (actor === undefined) {
      if (this.opts.autoCreate !== true) {
        this.counters.unknownSymbol++;
        this.limiter.warn(`unknown:${batch.symbol}`, { symbol: batch.symbol }, 'book message for a symbol this connection does not track');
        return;
      }
      actor = this.addActor(batch.symbol, this.depthFor(batch.symbol));
    }
    if (batch.checksum < 0) {
      // Kraken v2 always sends a checksum: without one the message cannot be verified.
      this.counters.malformed++;
      this.limiter.warn(`nochecksum:${actor.symbol}`, { symbol: actor.symbol }, 'book message without a checksum: treated as malformed');
      if (actor.health === BookHealth.LIVE) {
        this.transition(actor, BookHealth.RESYNCING, 'book message without a checksum');
        actor.book?.clear();
        this.requestResync(actor);
      }
      return;
    }
    if (actor.book === null && batch.isSnapshot && this.opts.mode === 'replay') {
      // Replay without instrument frames or --precision: take the decimals the snapshot shows.
      let pp = 0;
      let qp = 0;
      for (let i = 0; i < batch.count; i++) {
        if (batch.pLen[i]! > pp) pp = batch.pLen[i]!;
        if (batch.qLen[i]! > qp) qp = batch.qLen[i]!;
      }
      actor.setPrecision(pp, qp);
      this.opts.log.warn({ symbol: actor.symbol, pricePrecision: pp, qtyPrecision: qp }, 'no instrument frame or --precision for symbol: precision inferred from its first snapshot');
    }
    const prev = actor.health;
    const r = actor.onBook(batch, recvUs);
    if (r === ApplyResult.OK) {
      if (prev !== BookHealth.LIVE) this.onLive(actor);
      this.opts.onRisk(actor);
    } else if (r === ApplyResult.CHECKSUM_MISMATCH || r === ApplyResult.PRECISION) {
      this.limiter.warn(
        `mismatch:${actor.symbol}`,
        { symbol: actor.symbol, code: r === ApplyResult.PRECISION ? 'E_PRECISION' : 'E_CHECKSUM_MISMATCH', expected: batch.checksum, computed: actor.book?.crc, mismatches: actor.counters.checksumMismatches },
        r === ApplyResult.PRECISION ? 'book value beyond instrument precision: resyncing symbol' : 'book checksum mismatch: resyncing symbol',
      );
      this.opts.onRisk(actor); // publishes the RESYNCING transition
      this.requestResync(actor);
    }
  }

  private onLive(actor: InstrumentActor): void {
    const r = this.resync.get(actor.symbol);
    // Keep the attempt count so repeated mismatches back off; it resets after a minute LIVE.
    if (r !== undefined && r.timer === null && !r.awaitingUnsubscribeAck) r.liveSinceUs = this.opts.clock.nowUs();
    if (r !== undefined && r.span !== null) {
      r.span.end();
      r.span = null;
    }
  }

  private onTrades(m: Record<string, unknown>, recvUs: number): void {
    if (!Array.isArray(m.data)) return this.unexpected(m, 'bad trade frame');
    for (const t of m.data as Record<string, unknown>[]) {
      if (typeof t?.symbol !== 'string') {
        this.counters.malformed++;
        continue;
      }
      const price = Number(t.price);
      const qty = Number(t.qty);
      if (!(price > 0) || !(qty > 0)) {
        this.counters.malformed++;
        continue;
      }
      const ts = typeof t.timestamp === 'string' ? parseTimestampText(t.timestamp) : -1;
      const id = typeof t.trade_id === 'number' && Number.isSafeInteger(t.trade_id) ? t.trade_id : -1;
      this.onTrade(t.symbol, price, qty, t.side === 'buy' ? 1 : t.side === 'sell' ? -1 : 0, ts, recvUs, id, String(t.price), String(t.qty));
    }
  }

  private onTrade(symbol: string, price: number, qty: number, side: number, timeUs: number, recvUs: number, tradeId: number, priceText: string, qtyText: string): void {
    const actor = this.actors.get(symbol);
    if (actor === undefined) return;
    this.counters.trades++;
    actor.onTrade(price, qty, side, timeUs, recvUs);
    this.opts.onTrade?.(actor, tradeId, side, price, qty, timeUs, recvUs, priceText, qtyText);
    if (actor.isLive()) this.opts.onRisk(actor);
  }

  private onStatusFrame(m: Record<string, unknown>): void {
    const d = Array.isArray(m.data) ? (m.data[0] as Record<string, unknown> | undefined) : undefined;
    const system = typeof d?.system === 'string' ? d.system : 'unknown';
    this.systemStatus = system;
    this.opts.onStatus?.(system);
    if (this.opts.mode === 'replay') return;
    // The instrument channel is subscribed whatever the system status: it is also what keeps
    // heartbeats flowing, so a connection during maintenance is not mistaken for a dead one.
    if (!this.instrumentRequested) {
      this.instrumentRequested = true;
      this.sendSubscribe('instrument', null);
    }
    for (const a of this.actors.values()) this.applyVenueStatus(a);
  }

  /** HALTED while the venue reports the system or the pair not online; rebuilt when it is back. */
  private applyVenueStatus(a: InstrumentActor): void {
    const system = this.systemStatus;
    const pair = this.pairStatus.get(a.symbol);
    const halt = system !== 'online' && system !== 'unknown' ? `system ${system}` : pair !== undefined && pair !== 'online' ? `instrument status ${pair}` : null;
    const was = a.venueHalt;
    a.venueHalt = halt;
    if (a.health === BookHealth.REJECTED) return;
    if (halt !== null) {
      if (a.health !== BookHealth.STALE) this.transition(a, BookHealth.HALTED, halt);
    } else if (was !== null && a.health === BookHealth.HALTED) {
      if (this.subscribed) this.rebuild(a, 'back online');
      else this.transition(a, BookHealth.SYNCING, 'back online');
    }
  }

  private onInstrument(m: Record<string, unknown>): void {
    const data = m.data as { pairs?: unknown } | undefined;
    if (data === undefined || !Array.isArray(data.pairs)) return this.unexpected(m, 'bad instrument frame');
    for (const p of data.pairs as Record<string, unknown>[]) {
      const symbol = p?.symbol;
      if (typeof symbol !== 'string') continue;
      const status = typeof p.status === 'string' ? p.status : 'unknown';
      this.pairStatus.set(symbol, status);
      let actor = this.actors.get(symbol);
      if (actor === undefined) {
        if (this.opts.autoCreate !== true) continue;
        actor = this.addActor(symbol, this.depthFor(symbol));
      }
      const pp = Number(p.price_precision);
      const qp = Number(p.qty_precision);
      const fixed = this.opts.precision?.has(symbol) === true;
      if (!fixed && Number.isInteger(pp) && Number.isInteger(qp) && pp >= 0 && qp >= 0 && pp <= 15 && qp <= 15) {
        const wasBuilt = actor.book !== null && actor.health === BookHealth.LIVE;
        if (actor.setPrecision(pp, qp) && wasBuilt) {
          this.opts.log.info({ symbol, pricePrecision: pp, qtyPrecision: qp }, 'instrument precision changed: rebuilding book');
          this.transition(actor, BookHealth.RESYNCING, 'precision changed');
          this.requestResync(actor);
        }
      }
      if (this.opts.mode === 'replay') continue;
      this.applyVenueStatus(actor);
    }
    if (m.type === 'snapshot' && !this.instrumentReady && this.opts.mode === 'live') {
      this.instrumentReady = true;
      this.subscribeAll();
    }
  }

  private subscribeAll(): void {
    const ready: string[] = [];
    for (const a of this.actors.values()) {
      if (a.health === BookHealth.REJECTED) continue;
      const status = this.pairStatus.get(a.symbol);
      if (status === undefined) {
        this.reject(a, `unknown pair: ${a.symbol} is not in Kraken's instrument list`);
        continue;
      }
      if (a.book === null) {
        this.reject(a, `no precision for ${a.symbol} in the instrument channel`);
        continue;
      }
      ready.push(a.symbol);
    }
    this.subscribed = true;
    for (let i = 0; i < ready.length; i += SUBSCRIBE_BATCH) {
      const chunk = ready.slice(i, i + SUBSCRIBE_BATCH);
      this.sendSubscribe('book', chunk);
      this.sendSubscribe('trade', chunk);
      this.sendSubscribe('ticker', chunk);
    }
  }

  private sendSubscribe(channel: string, symbols: string[] | null): void {
    const req_id = this.reqId++;
    const params: Record<string, unknown> = { channel };
    if (symbols !== null) params.symbol = symbols;
    if (channel === 'book') {
      params.depth = this.opts.depth;
      params.snapshot = true;
    }
    if (channel === 'instrument') params.snapshot = true;
    this.track(req_id, 'subscribe', channel, symbols ?? []);
    this.opts.send({ method: 'subscribe', params, req_id });
  }

  private sendUnsubscribeBook(symbol: string): void {
    const req_id = this.reqId++;
    this.track(req_id, 'unsubscribe', 'book', [symbol]);
    this.opts.send({ method: 'unsubscribe', params: { channel: 'book', symbol: [symbol], depth: this.opts.depth }, req_id });
  }

  private track(reqId: number, method: string, channel: string, symbols: string[]): void {
    if (this.requests.size >= 10_000) this.requests.delete(this.requests.keys().next().value as number);
    this.requests.set(reqId, { method, channel, symbols: [...symbols] });
  }

  /** A symbol of a request was answered: forget the request once every symbol has been. */
  private answered(reqId: number, symbol: string | null): void {
    const req = this.requests.get(reqId);
    if (req === undefined) return;
    const i = symbol === null ? -1 : req.symbols.indexOf(symbol);
    if (i >= 0) req.symbols.splice(i, 1);
    if (symbol === null || req.symbols.length === 0) this.requests.delete(reqId);
  }

  /** Back from HALTED: the book may have moved meanwhile, so take a fresh snapshot. */
  private rebuild(actor: InstrumentActor, reason: string): void {
    this.transition(actor, BookHealth.RESYNCING, reason);
    actor.book?.clear();
    this.requestResync(actor);
  }

  private onResponse(m: Record<string, unknown>): void {
    const method = m.method as string;
    if (method === 'pong') return;
    const reqId = m.req_id === undefined ? -1 : Number(m.req_id);
    const req = this.requests.get(reqId);
    const result = (m.result ?? {}) as Record<string, unknown>;
    if (m.success === false) {
      const error = typeof m.error === 'string' ? m.error : 'subscription refused';
      const symbol = typeof m.symbol === 'string' ? m.symbol : typeof result.symbol === 'string' ? result.symbol : null;
      const symbols = symbol !== null ? [symbol] : [...(req?.symbols ?? [])];
      this.answered(reqId, symbol);
      if (req?.method === 'unsubscribe') {
        // Our resync's unsubscribe found nothing to remove (Kraken answers "Subscription Not
        // Found"): the subscribe can go ahead.
        for (const s of symbols) {
          const r = this.resync.get(s);
          const a = this.actors.get(s);
          if (r !== undefined && r.awaitingUnsubscribeAck && a !== undefined) this.finishResync(a, r);
        }
        return;
      }
      this.counters.subscribeErrors++;
      const channel = req?.channel ?? (typeof result.channel === 'string' ? result.channel : 'unknown');
      this.opts.log.error({ code: 'E_SUBSCRIBE_REJECTED', method, channel, symbols, error }, `Kraken refused ${method} of ${channel}: ${error}`);
      if ((channel === 'book' || channel === 'unknown') && this.opts.mode === 'live') {
        for (const s of symbols) {
          const a = this.actors.get(s);
          if (a === undefined) continue;
          if (/rate/i.test(error)) this.requestResync(a, true); // "Exceeded msg rate": subscribe again later
          else this.reject(a, error);
        }
      }
      return;
    }
    const ackSymbol = typeof result.symbol === 'string' ? result.symbol : null;
    this.answered(reqId, ackSymbol);
    if (method === 'subscribe' && result.channel === 'book' && ackSymbol !== null) {
      const depth = Number(result.depth);
      if (Number.isInteger(depth)) this.ackDepth.set(ackSymbol, depth);
      if (this.opts.mode === 'replay' && this.opts.depthFixed !== true) {
        const a = this.actors.get(ackSymbol);
        if (a !== undefined && a.depth !== depth && Number.isInteger(depth)) {
          this.actors.delete(ackSymbol);
          const n = this.addActor(ackSymbol, depth);
          if (a.pricePrecision >= 0) n.setPrecision(a.pricePrecision, a.qtyPrecision);
        }
      }
      return;
    }
    if (method === 'unsubscribe' && result.channel === 'book' && ackSymbol !== null) {
      const r = this.resync.get(ackSymbol);
      const a = this.actors.get(ackSymbol);
      if (r !== undefined && r.awaitingUnsubscribeAck && a !== undefined) this.finishResync(a, r);
    }
  }

  private reject(actor: InstrumentActor, reason: string): void {
    this.transition(actor, BookHealth.REJECTED, reason);
  }

  private transition(actor: InstrumentActor, health: BookHealth, reason: string | null): void {
    if (actor.setHealth(health, reason)) this.opts.onRisk(actor);
  }

  // ------------------------------------------------------------------ resync

  /**
   * One resync per desync episode: unsubscribe, then subscribe at the same depth once the
   * unsubscribe is acknowledged. The first attempt waits 0–250 ms (jitter); repeated
   * mismatches back off 1 s, 2 s, 4 s … up to 60 s, reset after a minute LIVE.
   */
  requestResync(actor: InstrumentActor, subscribeOnly = false): void {
    if (this.opts.mode === 'replay') {
      actor.counters.resyncs++; // the next snapshot in the file rebuilds the book
      return;
    }
    let r = this.resync.get(actor.symbol);
    if (r === undefined) {
      r = { attempts: 0, timer: null, ackTimer: null, awaitingUnsubscribeAck: false, liveSinceUs: -1, span: null };
      this.resync.set(actor.symbol, r);
    }
    if (r.timer !== null || r.awaitingUnsubscribeAck) return; // already in progress
    actor.counters.resyncs++;
    if (r.liveSinceUs >= 0 && this.opts.clock.nowUs() - r.liveSinceUs > RESYNC_RESET_US) r.attempts = 0;
    r.liveSinceUs = -1;
    const backoff = r.attempts === 0 ? 0 : Math.min(RESYNC_CAP_MS, RESYNC_BASE_MS * 2 ** (r.attempts - 1));
    const delay = backoff + Math.floor(Math.random() * 250);
    r.attempts++;
    r.span ??= startSpan(SpanName.RESYNC, { 'aether.symbol': actor.symbol, 'aether.attempt': r.attempts });
    const state = r;
    r.timer = this.opts.timers.setTimeout(() => {
      state.timer = null;
      if (subscribeOnly) {
        actor.book?.clear();
        this.sendSubscribe('book', [actor.symbol]);
        return;
      }
      state.awaitingUnsubscribeAck = true;
      this.sendUnsubscribeBook(actor.symbol);
      state.ackTimer = this.opts.timers.setTimeout(() => {
        state.ackTimer = null;
        if (state.awaitingUnsubscribeAck) this.finishResync(actor, state);
      }, UNSUBSCRIBE_ACK_TIMEOUT_MS);
    }, delay);
  }

  private finishResync(actor: InstrumentActor, r: ResyncState): void {
    r.awaitingUnsubscribeAck = false;
    if (r.ackTimer !== null) {
      this.opts.timers.clearTimeout(r.ackTimer);
      r.ackTimer = null;
    }
    actor.book?.clear();
    this.sendSubscribe('book', [actor.symbol]);
  }

  // ------------------------------------------------------------------ periodic

  /** The sampling clock (every volIntervalSec): volatility and the trade-flow window. */
  sample(nowUs: number): void {
    for (const a of this.actors.values()) if (a.sample(nowUs)) this.opts.onRisk(a);
  }

  /** Quiet detection; call about once a second. */
  tick(nowUs: number, quietAfterUs: number): void {
    for (const a of this.actors.values()) if (a.checkQuiet(nowUs, quietAfterUs)) this.opts.onRisk(a);
  }
}

function preview(frame: Buffer | string): string {
  const s = typeof frame === 'string' ? frame : frame.subarray(0, 200).toString('utf8');
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

const NO_TIMERS: Timers = { setTimeout: () => null, clearTimeout: () => undefined };
const SILENT: Log = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A session that drives recorded frames (replay, benchmarks): nothing is sent, no timers run,
 * and an actor is created for each symbol as it appears (depth from its subscribe ack when
 * the stream has one, else `depth`).
 */
export function createReplaySession(opts: {
  depth: number;
  /** The depth was given explicitly (replay --depth): it wins over subscribe acks. */
  depthFixed?: boolean;
  clock: Clock;
  onRisk(actor: InstrumentActor): void;
  precision?: ReadonlyMap<string, { price: number; qty: number }>;
  log?: Log;
}): KrakenSession {
  return new KrakenSession([], {
    depth: opts.depth,
    simulated: false,
    mode: 'replay',
    autoCreate: true,
    depthFixed: opts.depthFixed === true,
    precision: opts.precision,
    clock: opts.clock,
    timers: NO_TIMERS,
    log: opts.log ?? SILENT,
    onRisk: opts.onRisk,
    send: () => undefined,
  });
}
