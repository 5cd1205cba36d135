/**
 * Live Kraken WebSocket v2 connection for one worker's instruments: the socket, reconnects,
 * the heartbeat watchdog and request pacing around a KrakenSession.
 *
 * - `ws` client with permessage-deflate off (measured: deflate costs ~126 µs of CPU per
 *   frame and caps a connection near 6,000 frames/s).
 * - Frames are handed to the session synchronously in the socket's 'message' callback: the
 *   book is updated and risk computed on this thread, run to completion.
 * - Reconnect: first retry immediate, then capped exponential backoff with jitter; never
 *   faster than every 5 s after a maintenance status; every attempt is taken from the
 *   process-wide ConnectBudget.
 * - Dead connection: no frame at all (heartbeats arrive about once a second) within
 *   `heartbeatTimeoutMs` → the socket is dropped, every book goes STALE, reconnect.
 */
import WebSocket from 'ws';
import type { InstrumentActor } from '../../actors/instrument.js';
import type { Clock, Timers } from '../../engine/clock.js';
import type { ConnectBudget } from '../../engine/connect-budget.js';
import type { Log } from '../../engine/ports.js';
import { endSpan, SpanName, startSpan, type Span } from '../../engine/tracing.js';
import { KrakenSession } from './session.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 60_000;
const MAINTENANCE_MIN_MS = 5_000;
/** A connection open this long resets the failure count. */
const HEALTHY_AFTER_MS = 60_000;
const PING_EVERY_MS = 20_000;
const REQUEST_INTERVAL_MS = 50;
const MAX_PENDING_REQUESTS = 10_000;

export interface ClientOptions {
  url: string;
  symbols: readonly string[];
  depth: number;
  simulated: boolean;
  heartbeatTimeoutMs: number;
  quietAfterMs: number;
  budget: ConnectBudget;
  clock: Clock;
  timers: Timers;
  log: Log;
  onRisk(actor: InstrumentActor): void;
  /** Per-instrument analytics parameters. */
  params?: import('../../actors/instrument.js').MarketRiskParams;
  /** Every frame as received, before processing (record mode). */
  onRawFrame?(frame: Buffer, recvUs: number): void;
  /** Each trade (see SessionOptions.onTrade). */
  onTrade?: import('./session.js').SessionOptions['onTrade'];
  /** Duration (ms) of the processing of one sampled frame (1 in 16), for the latency histogram. */
  onFrameTimed?(ms: number): void;
}

export interface ClientCounters {
  connectAttempts: number;
  connects: number;
  disconnects: number;
  deadConnections: number;
  requestsSent: number;
  requestsDropped: number;
}

export class KrakenClient {
  private framesSeen = 0;
  readonly session: KrakenSession;
  readonly counters: ClientCounters = { connectAttempts: 0, connects: 0, disconnects: 0, deadConnections: 0, requestsSent: 0, requestsDropped: 0 };
  private ws: WebSocket | null = null;
  private stopped = true;
  private failures = 0;
  private openedAtMs = 0;
  /** Tracing span from a lost connection to the next open one (no-op without an SDK). */
  private reconnectSpan: Span | null = null;
  private lastFrameUs = 0;
  private lastSystem = 'unknown';
  private retryTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private sendTimer: NodeJS.Timeout | null = null;
  private readonly pending: string[] = [];
  private pingId = 1_000_000;
  private lastSendMs = 0;
  private closeWaiters: (() => void)[] = [];

  constructor(private readonly opts: ClientOptions) {
    this.session = new KrakenSession(opts.symbols, {
      depth: opts.depth,
      simulated: opts.simulated,
      mode: 'live',
      clock: opts.clock,
      timers: opts.timers,
      log: opts.log,
      onRisk: opts.onRisk,
      onTrade: opts.onTrade,
      params: opts.params,
      send: (req) => this.enqueue(req),
      onStatus: (system) => {
        this.lastSystem = system;
      },
    });
  }

  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Close the connection and stop reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectSpan !== null) endSpan(this.reconnectSpan, 'stopped');
    this.reconnectSpan = null;
    this.clearTimers();
    const ws = this.ws;
    if (ws === null) return;
    await new Promise<void>((resolve) => {
      this.closeWaiters.push(resolve);
      const force = setTimeout(() => ws.terminate(), 1000);
      force.unref();
      ws.close(1000, 'shutdown');
    });
  }

  private clearTimers(): void {
    for (const t of [this.retryTimer, this.watchdog, this.pingTimer, this.sendTimer]) if (t !== null) clearTimeout(t);
    this.retryTimer = this.watchdog = this.pingTimer = this.sendTimer = null;
  }

  private connect(): void {
    if (this.stopped) return;
    const wait = this.opts.budget.tryAcquire();
    if (wait > 0) {
      this.opts.log.warn(
        { code: 'E_CONNECT_BUDGET', waitMs: wait, nextRetryAt: new Date(Date.now() + wait).toISOString() },
        'connection-attempt budget exhausted (protecting against a Kraken IP ban): waiting',
      );
      this.schedule(wait);
      return;
    }
    this.counters.connectAttempts++;
    const ws = new WebSocket(this.opts.url, { perMessageDeflate: false, handshakeTimeout: 10_000 });
    this.ws = ws;
    let failure: string | null = null;
    ws.on('open', () => {
      this.counters.connects++;
      this.openedAtMs = Date.now();
      this.lastFrameUs = this.opts.clock.nowUs();
      if (ws.extensions !== '') this.opts.log.warn({ extensions: ws.extensions }, 'unexpected WebSocket extensions negotiated');
      this.opts.log.info({ url: this.opts.url, symbols: this.opts.symbols.length }, 'connected to venue');
      this.session.onOpen();
      if (this.reconnectSpan !== null) {
        this.reconnectSpan.setAttribute('aether.attempts', this.failures);
        this.reconnectSpan.end();
        this.reconnectSpan = null;
      }
      this.startWatchdog();
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const now = this.opts.clock.nowUs();
      this.lastFrameUs = now;
      if (isBinary) return;
      this.opts.onRawFrame?.(data, now);
      // One frame in 16 is timed (frame in → book, checksum, risk out) for the hot-path
      // latency histogram; the others pay nothing for it.
      if (this.opts.onFrameTimed !== undefined && (++this.framesSeen & 15) === 0) {
        const t0 = performance.now();
        this.session.onFrame(data, now);
        this.opts.onFrameTimed(performance.now() - t0);
      } else this.session.onFrame(data, now);
    });
    ws.on('unexpected-response', (_req, res) => {
      failure = `HTTP ${res.statusCode ?? '?'} on the WebSocket upgrade${res.statusCode === 429 ? ' (rate limited)' : ''}`;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= describeError(err);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      const wasOpen = this.openedAtMs > 0;
      this.ws = null;
      this.clearTimers();
      if (wasOpen) {
        this.counters.disconnects++;
        if (Date.now() - this.openedAtMs >= HEALTHY_AFTER_MS) this.failures = 0;
      }
      this.openedAtMs = 0;
      this.pending.length = 0;
      const why = failure ?? `closed (code ${code}${reason.length > 0 ? `, ${reason.toString()}` : ''})`;
      this.session.onClose(why);
      for (const w of this.closeWaiters.splice(0)) w();
      if (this.stopped) return;
      const delay = this.nextDelay();
      const nextRetryAt = new Date(Date.now() + delay).toISOString();
      if (!wasOpen) {
        this.opts.log.warn(
          { code: 'E_KRAKEN_UNREACHABLE', url: this.opts.url, reason: why, nextRetryAt, attempt: this.failures },
          `Kraken unreachable: ${why}; next retry at ${nextRetryAt}. For offline use, run \`npm run demo\` (simulated exchange).`,
        );
      } else {
        this.opts.log.warn({ url: this.opts.url, reason: why, nextRetryAt }, 'Kraken connection lost: reconnecting');
      }
      this.reconnectSpan ??= startSpan(SpanName.RECONNECT, { 'aether.url': this.opts.url, 'aether.reason': why });
      this.schedule(delay);
    });
  }

  private nextDelay(): number {
    const n = this.failures++;
    let delay = n === 0 ? 0 : Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (n - 1));
    delay = delay / 2 + Math.random() * (delay / 2); // equal jitter
    // Kraken: after maintenance, reconnect no more quickly than once every five seconds.
    if (this.lastSystem !== 'online' && this.lastSystem !== 'unknown') delay = Math.max(delay, MAINTENANCE_MIN_MS + Math.random() * 1000);
    return Math.round(delay);
  }

  private schedule(ms: number): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, ms);
  }

  private startWatchdog(): void {
    const check = Math.max(100, Math.floor(this.opts.heartbeatTimeoutMs / 4));
    this.watchdog = setInterval(() => {
      const now = this.opts.clock.nowUs();
      if (now - this.lastFrameUs > this.opts.heartbeatTimeoutMs * 1000) {
        this.counters.deadConnections++;
        this.opts.log.warn({ silentMs: Math.round((now - this.lastFrameUs) / 1000) }, 'no heartbeat from Kraken within the timeout: connection dead, reconnecting');
        this.ws?.terminate();
        return;
      }
      this.session.tick(now, this.opts.quietAfterMs * 1000);
    }, check);
    this.pingTimer = setInterval(() => this.enqueue({ method: 'ping', req_id: this.pingId++ }), PING_EVERY_MS);
  }

  /** Requests are paced (one per REQUEST_INTERVAL_MS) so bursts of resyncs cannot trip Kraken's rate limit. */
  private enqueue(req: Record<string, unknown>): void {
    if (this.pending.length >= MAX_PENDING_REQUESTS) {
      this.counters.requestsDropped++;
      this.pending.shift();
    }
    this.pending.push(JSON.stringify(req));
    if (this.sendTimer === null) {
      const wait = this.lastSendMs + REQUEST_INTERVAL_MS - Date.now();
      if (wait <= 0) this.flushOne();
      else this.sendTimer = setTimeout(() => this.flushOne(), wait);
    }
  }

  private flushOne(): void {
    this.sendTimer = null;
    const ws = this.ws;
    const next = this.pending.shift();
    if (next === undefined || ws === null || ws.readyState !== WebSocket.OPEN) return;
    ws.send(next);
    this.lastSendMs = Date.now();
    this.counters.requestsSent++;
    if (this.pending.length > 0) this.sendTimer = setTimeout(() => this.flushOne(), REQUEST_INTERVAL_MS);
  }
}

function describeError(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `DNS lookup failed (${code}): no network or no DNS`;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  if (code === 'ETIMEDOUT' || /timed out/i.test(err.message)) return 'connection timed out';
  if (code.startsWith('ERR_TLS') || /certificate|SSL|TLS/i.test(err.message)) return `TLS error: ${err.message}`;
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return `network unreachable (${code})`;
  return err.message;
}
