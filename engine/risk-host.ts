/**
 * The risk host: account actors (positions, limits, trading state, pre-trade checks) and
 * their NATS edges — fills from JetStream, pre-trade request/reply, admin commands, durable
 * trading-state events, account risk. It reads every instrument's live book from the market
 * board (shared memory written by the workers), so a check never waits on another thread.
 *
 * Runs on the main thread; all handlers are synchronous (one account decision at a time).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, type JetStreamClient, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { Packr } from 'msgpackr';
import { Piscina } from 'piscina';
import { siblingModule } from './spawn-worker.js';
import type { HistoricalResult, HistoricalTask } from './risk-task.js';
import { AccountActor, DenyReason, parseOrder, type MarketPort, type MarketView, type RiskPort } from '../actors/account.js';
import { costToTrade } from '../actors/liquidity.js';
import { isFillError, parseFill } from '../actors/position.js';
import { BookHealth } from '../actors/risk.js';
import { EwmaCovariance, normalDensity, Z } from '../actors/var.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { loadLimitsFile, parseLimits, type LimitsBook } from './limits.js';
import type { EngineFeed, FeedEvents } from './feed.js';
import type { RecordSink } from './persist/records.js';
import type { Checkpoint, CheckpointStore } from './persist/checkpoint.js';
import { lotsText, plainDecimal, type Fill } from '../actors/position.js';
import { BoardBook, type MarketBoard } from './market-board.js';
import { latencyMetrics } from './metrics.js';
import { SpanName, traced } from './tracing.js';
import {
  ACCOUNT_RE,
  adminSubject,
  deadLetterSubject,
  eventsWildcard,
  fillsConsumerName,
  fillsWildcard,
  portfolioSubject,
  preTradeSubject,
  releaseOrderSubject,
  stateEventSubject,
  streamName,
} from './switchboard.js';

/** One position inside AccountRisk. */
export interface PositionRisk {
  symbol: string;
  qty: number;
  avgEntry: number;
  realizedPnl: number;
  unrealizedPnlMid: number | null;
  unrealizedPnlExec: number | null;
  notional: number | null;
  liquidationCost: number | null;
  liquidationCostBps: number | null;
  liquidationInsufficient: boolean;
  var95: number | null;
  var99: number | null;
  es95: number | null;
  es99: number | null;
  limitUse: { maxPosition: number | null; maxNotional: number | null };
  health: string | null;
  volAnnual: number | null;
}

/**
 * Account risk, as published on `portfolio.v1.<account>` (msgpack map) and returned by
 * `admin.v1.positions` (JSON). docs/risk-model.md describes every field.
 */
export interface AccountRisk {
  account: string;
  known: true;
  state: string;
  stateReason: string;
  simulated: boolean;
  realizedPnl: number;
  unrealizedPnl: number;
  equity: number;
  dailyPnl: number;
  drawdown: number;
  grossExposure: number;
  netExposure: number;
  varHorizonSec: number;
  var95: number;
  var99: number;
  es95: number;
  es99: number;
  covarianceSamples: number;
  historical: (HistoricalResult & { timeUs: number }) | null;
  limitUse: Record<'maxGrossExposure' | 'maxNetExposure' | 'maxPortfolioVar' | 'maxDailyLoss' | 'maxDrawdown', number | null>;
  positions: PositionRisk[];
  /** Per instrument, the board sequence and epoch the figures were computed from. */
  reflects: Record<string, { seq: number; epoch: number }>;
  timeUs: number;
}

export interface RiskHostCounters {
  fillsApplied: number;
  fillsDuplicate: number;
  fillsDeadLettered: number;
  fillsDeferred: number;
  checks: number;
  accepted: number;
  denied: number;
  invalid: number;
  adminRefused: number;
  eventsPublished: number;
  eventPublishErrors: number;
}

export interface RiskHostOptions {
  config: Config;
  log: Logger;
  board: MarketBoard;
  slotOf: Readonly<Record<string, number>>;
  nc: NatsConnection;
  /** In-process consumers of account risk and state events (gateway, persistence). */
  feed?: EngineFeed;
  /** Persistence: fills applied and position changes are stored here before a fill is acked. */
  records?: RecordSink | null;
  /** Warm-restart checkpoints (engine/persist/checkpoint.ts). */
  checkpoints?: CheckpointStore | null;
  simulated: boolean;
}

/** What applying one fill message came to; `stored` resolves when its records are stored. */
type FillOutcome = { kind: 'deferred' } | { kind: 'dead'; why: { reason: string; field: string | null; detail: string } } | { kind: 'ok'; stored: Promise<void> | null };

const EVALUATE_EVERY_MS = 1000;
/** Historical-simulation VaR and stress scenarios, off the hot path in the piscina pool. */
const HISTORICAL_EVERY_MS = 10_000;
/** Return samples kept for historical simulation (a ring; the oldest leaves first). */
const HISTORY_ROWS = 2000;

export class RiskHost implements MarketPort, RiskPort {
  readonly counters: RiskHostCounters = { fillsApplied: 0, fillsDuplicate: 0, fillsDeadLettered: 0, fillsDeferred: 0, checks: 0, accepted: 0, denied: 0, invalid: 0, adminRefused: 0, eventsPublished: 0, eventPublishErrors: 0 };
  readonly accounts = new Map<string, AccountActor>();
  private limits: LimitsBook;
  private readonly symbols: string[];
  private readonly views = new Map<string, BoardBook>();
  private readonly cov: EwmaCovariance;
  private readonly lastMid: Float64Array;
  private readonly returns: Float64Array;
  private readonly js: JetStreamClient;
  private readonly subs: Subscription[] = [];
  private fills: ConsumerMessages | null = null;
  private timers: NodeJS.Timeout[] = [];
  private readonly packr = new Packr({ useRecords: false });
  private readonly ns: string;
  private readonly tokenDigest: Buffer | null;
  private readonly history: Float64Array[] = [];
  private historyHead = 0;
  private pool: Piscina | null = null;
  private readonly historical = new Map<string, HistoricalResult & { timeUs: number }>();
  private historicalRunning = false;
  /** Inline limits set by `admin.v1.limits` (restored after a restart); null = the limits file. */
  private limitsOverride: unknown = null;
  /** Fill stream sequences delivered but not yet resolved (applied, duplicate or dead-lettered). */
  private readonly unresolved = new Set<number>();
  private maxResolved = 0;
  /** Fills whose records are still on their way to JetStream, by fill id. */
  private readonly storing = new Map<string, Promise<void>>();
  /** Instrument quantity precisions carried by the restored checkpoint (used until books load). */
  private readonly restoredPrecision = new Map<string, number>();
  /** Set once a restart has been restored and replayed: checks and fills wait for it. */
  restoredFrom: { fillSeq: number; replayed: number; source: string } | null = null;

  constructor(private readonly opts: RiskHostOptions) {
    this.ns = opts.config.natsNamespace;
    this.limits = loadLimitsFile(opts.config.limitsFile);
    this.symbols = Object.keys(opts.slotOf);
    this.cov = new EwmaCovariance(this.symbols.length, opts.config.volLambda, opts.config.volIntervalMs / 1000);
    this.lastMid = new Float64Array(this.symbols.length).fill(Number.NaN);
    this.returns = new Float64Array(this.symbols.length);
    this.js = jetstream(opts.nc);
    this.tokenDigest = opts.config.adminToken === null ? null : createHash('sha256').update(opts.config.adminToken).digest();
  }

  // ------------------------------------------------------------------ ports

  /** A fresh consistent read of the symbol's board slot (cached view object), or null. */
  private view(symbol: string): BoardBook | null | undefined {
    const slot = this.opts.slotOf[symbol];
    if (slot === undefined) return undefined;
    let v = this.views.get(symbol);
    if (v === undefined) {
      v = new BoardBook();
      this.views.set(symbol, v);
    }
    return this.opts.board.read(slot, v) ? v : null;
  }

  market(symbol: string): MarketView | undefined {
    const v = this.view(symbol);
    if (v === undefined) return undefined;
    if (v === null) return { symbol, health: BookHealth.SYNCING, mid: null, qtyPrecision: 8, book: null };
    return { symbol, health: v.health, mid: v.mid, qtyPrecision: v.qtyPrecision >= 0 ? v.qtyPrecision : 8, book: v };
  }

  /** Instrument quantity precision once its book has been seen; undefined for unknown symbols. */
  private qtyPrecision(symbol: string): number | undefined | null {
    const v = this.view(symbol);
    if (v === undefined) return undefined;
    if (v === null || v.qtyPrecision < 0) return this.restoredPrecision.get(symbol) ?? null; // null: known, not yet loaded
    return v.qtyPrecision;
  }

  portfolioSigmaValue(exposures: ReadonlyMap<string, number>, horizonSec: number): number {
    const idx: number[] = [];
    const w: number[] = [];
    for (const [s, v] of exposures) {
      const i = this.opts.slotOf[s];
      if (i !== undefined && v !== 0) {
        idx.push(i);
        w.push(v);
      }
    }
    const n = this.cov.n;
    let q = 0;
    for (let a = 0; a < idx.length; a++) for (let b = 0; b < idx.length; b++) q += w[a]! * w[b]! * this.cov.cov[idx[a]! * n + idx[b]!]!;
    return Math.sqrt((Math.max(0, q) * horizonSec) / this.cov.intervalSec);
  }

  private account(name: string): AccountActor {
    let a = this.accounts.get(name);
    if (a === undefined) {
      a = new AccountActor(name, this.limits.limitsFor(name), this, this);
      this.accounts.set(name, a);
    }
    return a;
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.opts.nc);
    const ensure = async (name: string, subjects: string[], extra: Record<string, unknown> = {}) => {
      try {
        await jsm.streams.info(name);
      } catch {
        await jsm.streams.add({ name, subjects, max_age: 30 * 86_400 * 1e9, duplicate_window: 120 * 1e9, num_replicas: this.opts.config.streamReplicas, ...extra });
      }
    };
    const fillsStream = streamName(this.ns, 'FILLS');
    await ensure(fillsStream, [fillsWildcard(this.ns)]);
    await ensure(streamName(this.ns, 'DEADLETTER'), [deadLetterSubject(this.ns, 'fills')]);
    await ensure(streamName(this.ns, 'EVENTS'), [eventsWildcard(this.ns)]);
    const durable = fillsConsumerName(this.ns);
    try {
      await jsm.consumers.info(fillsStream, durable);
    } catch {
      await jsm.consumers.add(fillsStream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: 30 * 1e9, max_ack_pending: 1000 });
    }
    await this.restore(fillsStream);
    const consumer = await this.js.consumers.get(fillsStream, durable);
    this.fills = await consumer.consume({ callback: (m) => this.onFill(m) });

    const nc = this.opts.nc;
    this.subs.push(nc.subscribe(preTradeSubject(this.ns), { callback: (err, m) => (err === null ? this.timedCheck(m) : undefined) }));
    this.subs.push(nc.subscribe(releaseOrderSubject(this.ns), { callback: (err, m) => (err === null ? this.onRelease(m) : undefined) }));
    for (const cmd of ['halt', 'release', 'limits', 'positions'] as const) {
      this.subs.push(nc.subscribe(adminSubject(this.ns, cmd), { callback: (err, m) => (err === null ? this.onAdmin(cmd, m) : undefined) }));
    }
    this.timers.push(setInterval(() => this.sample(), this.opts.config.volIntervalMs));
    this.timers.push(setInterval(() => this.evaluateAll(), EVALUATE_EVERY_MS));
    if (this.opts.checkpoints != null && this.opts.config.snapshotIntervalMs > 0) {
      this.timers.push(setInterval(() => this.checkpoint(), this.opts.config.snapshotIntervalMs));
    }
    this.pool = new Piscina({ filename: siblingModule(import.meta.url, 'risk-task').href, minThreads: 0, maxThreads: 1, idleTimeout: 30_000, maxQueue: 64 });
    this.timers.push(setInterval(() => void this.runHistorical(), HISTORICAL_EVERY_MS));
    for (const t of this.timers) t.unref();
    this.opts.log.info({ accounts: Object.keys(this.limits.accounts).length, instruments: this.symbols.length }, 'risk host started: fills, pre-trade checks and admin commands on NATS');
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const s of this.subs) s.unsubscribe();
    this.fills?.stop();
    await this.flushEvents();
    await Promise.race([Promise.allSettled([...this.storing.values()]), new Promise((r) => setTimeout(r, 3000).unref())]);
    if (this.opts.checkpoints != null) this.checkpoint();
    await this.pool?.destroy();
    this.pool = null;
  }

  // ------------------------------------------------------------------ sampling (volatility / covariance)

  /** One clock tick: simultaneous log returns of every mid into the EWMA covariance. */
  sample(): void {
    let any = false;
    for (let i = 0; i < this.symbols.length; i++) {
      const m = this.market(this.symbols[i]!);
      const mid = m !== undefined && m.health === BookHealth.LIVE ? m.mid : null;
      const prev = this.lastMid[i]!;
      if (mid !== null && prev > 0) {
        this.returns[i] = Math.log(mid / prev);
        any = true;
      } else this.returns[i] = Number.NaN;
      this.lastMid[i] = mid ?? Number.NaN;
    }
    if (any) {
      this.cov.update(this.returns);
      const row = Float64Array.from(this.returns);
      if (this.history.length < HISTORY_ROWS) this.history.push(row);
      else {
        this.history[this.historyHead] = row;
        this.historyHead = (this.historyHead + 1) % HISTORY_ROWS;
      }
    }
  }

  /** Return history oldest first. */
  private historyRows(): Float64Array[] {
    return this.history.length < HISTORY_ROWS ? this.history : [...this.history.slice(this.historyHead), ...this.history.slice(0, this.historyHead)];
  }

  /** Per-instrument shocks of every configured stress scenario (beta scenarios use the covariance). */
  private stressShocks(symbols: readonly string[]): { name: string; shocks: number[] }[] {
    const n = this.cov.n;
    return this.limits.stress.map((sc) => {
      if ('shocks' in sc) return { name: sc.name, shocks: symbols.map((s) => sc.shocks[s] ?? sc.shocks['*'] ?? 0) };
      const d = this.opts.slotOf[sc.driver];
      return {
        name: sc.name,
        shocks: symbols.map((s) => {
          if (s === sc.driver) return sc.shock;
          const i = this.opts.slotOf[s];
          if (d === undefined || i === undefined) return 0;
          const vd = this.cov.cov[d * n + d]!;
          return vd > 0 ? (this.cov.cov[i * n + d]! / vd) * sc.shock : 0;
        }),
      };
    });
  }

  /** Historical VaR/ES and stress P&L of every account with positions, in the worker pool. */
  async runHistorical(): Promise<void> {
    if (this.pool === null || this.historicalRunning) return;
    this.historicalRunning = true;
    try {
      const rows = this.historyRows();
      const jobs: Promise<void>[] = [];
      for (const a of this.accounts.values()) {
        const symbols: string[] = [];
        const exposures: number[] = [];
        for (const p of a.positions.values()) {
          const mid = this.market(p.symbol)?.mid ?? null;
          if (p.lots === 0 || mid === null || this.opts.slotOf[p.symbol] === undefined) continue;
          symbols.push(p.symbol);
          exposures.push(p.qty * mid);
        }
        if (symbols.length === 0) continue;
        const cols = symbols.map((s) => this.opts.slotOf[s]!);
        const task: HistoricalTask = {
          exposures,
          scenarios: rows.map((r) => cols.map((c) => r[c]!)),
          rowsPerHorizon: Math.max(1, Math.round(a.limits.varHorizonSec / this.cov.intervalSec)),
          stress: this.stressShocks(symbols),
        };
        jobs.push(
          (this.pool.run(task) as Promise<HistoricalResult>).then((r) => {
            this.historical.set(a.account, { ...r, timeUs: Date.now() * 1000 });
          }),
        );
      }
      await Promise.all(jobs);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'historical VaR / stress run failed');
    } finally {
      this.historicalRunning = false;
    }
  }

  /** Annualized volatility of one instrument from the covariance diagonal. */
  volatility(symbol: string, horizonSec: number): number | null {
    const i = this.opts.slotOf[symbol];
    if (i === undefined || this.cov.samples === 0) return null;
    return Math.sqrt((this.cov.cov[i * this.cov.n + i]! * horizonSec) / this.cov.intervalSec);
  }

  // ------------------------------------------------------------------ fills

  private onFill(m: JsMsg): void {
    if (m.seq <= (this.restoredFrom?.fillSeq ?? 0)) {
      m.ack(); // already in the restored checkpoint (its records were stored before it was taken)
      return;
    }
    this.unresolved.add(m.seq);
    const r = this.applyFillMessage(m.data, m.seq);
    if (r.kind === 'deferred') {
      // The engine follows the symbol but has not loaded its precision yet: try again shortly.
      this.counters.fillsDeferred++;
      m.nak(2000);
      return;
    }
    if (r.kind === 'dead') {
      this.resolved(m.seq);
      return this.deadLetter(m, r.why);
    }
    // Acknowledged (and counted in the checkpoint watermark) only once the records it produced
    // — fill, position, trading-state events — are stored in JetStream.
    const seq = m.seq;
    if (r.stored === null) {
      this.resolved(seq);
      m.ack();
    } else
      r.stored.then(
        () => {
          this.resolved(seq);
          m.ack();
        },
        () => m.nak(1000),
      );
  }

  private resolved(seq: number): void {
    this.unresolved.delete(seq);
    if (seq > this.maxResolved) this.maxResolved = seq;
    this.tryCheckpoint();
  }

  /**
   * Every fill at or below this stream sequence is in the in-memory state with its records
   * stored. At a quiet moment (nothing unresolved) the state is exactly the fills up to it.
   */
  get fillWatermark(): number {
    let min = Infinity;
    for (const s of this.unresolved) if (s < min) min = s;
    return min === Infinity ? this.maxResolved : Math.min(this.maxResolved, min - 1);
  }

  /**
   * Parse and apply one fill message. `stored` resolves when its records (fill applied,
   * position after it) are stored; null when there is nothing to wait for.
   */
  private applyFillMessage(data: Uint8Array, seq: number): FillOutcome {
    let msg: unknown;
    try {
      msg = JSON.parse(new TextDecoder().decode(data));
    } catch {
      return { kind: 'dead', why: { reason: 'MALFORMED', field: null, detail: 'not JSON' } };
    }
    let deferred = false;
    const f = parseFill(msg, (s) => {
      const p = this.qtyPrecision(s);
      if (p === null) deferred = true;
      return p === null ? 8 : p;
    });
    if (deferred) return { kind: 'deferred' };
    if (isFillError(f)) return { kind: 'dead', why: f };
    if (!ACCOUNT_RE.test(f.account)) return { kind: 'dead', why: { reason: 'MALFORMED', field: 'account', detail: 'account must be 1–64 of A-Z a-z 0-9 _ -' } };
    const raw = msg as { order_id?: unknown; price?: unknown; qty?: unknown; fee?: unknown };
    const orderId = typeof raw.order_id === 'string' ? raw.order_id : null;
    const a = this.account(f.account);
    let stored: Promise<void> | null;
    const applied = a.applyFill(f, orderId);
    if (applied) this.counters.fillsApplied++;
    else this.counters.fillsDuplicate++;
    a.evaluate(Date.now() * 1000);
    const events = this.drainEvents(a);
    if (applied) stored = this.storeFill(f, raw, orderId, seq, a, events);
    else {
      // The first delivery's records may still be on their way.
      const first = this.storing.get(f.fillId) ?? null;
      stored = first === null ? events : events === null ? first : Promise.all([first, events]).then(() => undefined);
    }
    return { kind: 'ok', stored };
  }

  private storeFill(f: Fill, raw: { price?: unknown; qty?: unknown; fee?: unknown }, orderId: string | null, seq: number, a: AccountActor, events: Promise<void> | null): Promise<void> | null {
    const sink = this.opts.records;
    if (sink == null) return events;
    const p = a.positions.get(f.symbol)!;
    // The trading system's decimal text when it is plain decimal, else the parsed value written
    // out in plain decimal (never exponent notation).
    const text = (v: unknown, parsed: number) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? v.trim() : plainDecimal(parsed));
    // A fill without its own timestamp is recorded at the time it was applied.
    const timeUs = f.timeUs >= 0 ? f.timeUs : Date.now() * 1000;
    const both = Promise.all([
      sink.store({
        k: 'fill',
        fillId: f.fillId,
        account: f.account,
        symbol: f.symbol,
        side: f.side > 0 ? 'buy' : 'sell',
        price: text(raw.price, f.price),
        qty: lotsText(f.lots, p.qtyPrecision),
        fee: text(raw.fee, f.fee),
        orderId,
        streamSeq: seq,
        timeUs,
      }),
      sink.store({ k: 'position', account: f.account, symbol: f.symbol, fillId: f.fillId, timeUs, qty: p.qtyText(), avgEntry: p.avgEntry, realizedPnl: p.realizedPnl, feesPaid: p.feesPaid }),
      events,
    ]).then(() => undefined);
    this.storing.set(f.fillId, both);
    void both.finally(() => {
      this.storing.delete(f.fillId);
      this.tryCheckpoint();
    });
    return both;
  }

  // ------------------------------------------------------------------ warm restart

  /** The state a restart resumes from: accounts, inline limits, precisions, the fill watermark. */
  snapshot(): Checkpoint {
    const precisions: Record<string, number> = Object.fromEntries(this.restoredPrecision);
    for (const s of this.symbols) {
      const p = this.qtyPrecision(s);
      if (typeof p === 'number') precisions[s] = p;
    }
    return {
      fillSeq: this.fillWatermark,
      timeUs: Date.now() * 1000,
      limits: this.limitsOverride,
      precisions,
      accounts: [...this.accounts.values()].map((a) => a.toSnapshot(10_000)),
    };
  }

  private checkpointDue = false;
  /** Checkpoints postponed because fills were in flight (a quiet moment had not come yet). */
  checkpointsDeferred = 0;

  /** Ask for a checkpoint: taken at once if no fill is in flight, else at the next quiet moment. */
  private checkpoint(): void {
    if (this.checkpointDue) this.checkpointsDeferred++;
    this.checkpointDue = true;
    this.tryCheckpoint();
  }

  /**
   * A checkpoint is taken only when every fill delivered is resolved and every record it
   * produced is stored: its state is then exactly "all fills up to the watermark", which is
   * what a restart replays from.
   */
  private tryCheckpoint(): void {
    if (!this.checkpointDue || this.restoredFrom === null || this.unresolved.size > 0 || this.storing.size > 0) return;
    this.checkpointDue = false;
    try {
      this.opts.checkpoints?.save(this.snapshot());
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'warm-restart checkpoint failed');
    }
  }

  /**
   * Restore the checkpoint, then replay every fill after its watermark (up to the stream's
   * end at start-up) through the same path as live fills: positions and trading states come
   * out exactly as if the process had never stopped, and the records of the replayed fills
   * are stored again (the database keeps each once).
   *
   * Which checkpoint: PostgreSQL's is the reference. A newer one in Redis (PostgreSQL's
   * writer lagging) is used only when the fills between the two, replayed onto PostgreSQL's,
   * give Redis's positions; otherwise PostgreSQL wins and the disagreement is logged.
   */
  private async restore(fillsStream: string): Promise<void> {
    const store = this.opts.checkpoints;
    if (store == null) {
      this.restoredFrom = { fillSeq: 0, replayed: 0, source: 'none' };
      return;
    }
    const { postgresql, redis } = await store.load();
    let cp: Checkpoint | null = postgresql;
    let source: string = postgresql !== null ? 'postgresql' : 'none';
    if (redis !== null && (postgresql === null || redis.fillSeq > postgresql.fillSeq || (redis.fillSeq === postgresql.fillSeq && redis.timeUs > postgresql.timeUs))) {
      const agree = postgresql === null ? true : await this.consistent(fillsStream, postgresql, redis);
      if (agree) {
        cp = redis;
        source = postgresql === null ? 'redis (PostgreSQL has none)' : 'redis (checked against PostgreSQL)';
      } else {
        this.opts.log.warn({ postgresql: postgresql!.fillSeq, redis: redis.fillSeq }, 'warm restart: the Redis checkpoint disagrees with PostgreSQL: PostgreSQL wins');
      }
    }
    let fillSeq = 0;
    if (cp !== null) {
      fillSeq = cp.fillSeq;
      for (const [sym, p] of Object.entries(cp.precisions ?? {})) this.restoredPrecision.set(sym, p);
      if (cp.limits !== null) {
        try {
          this.limits = parseLimits(cp.limits, 'limits');
          this.limitsOverride = cp.limits;
        } catch (err) {
          this.opts.log.error({ err: (err as Error).message }, 'checkpoint limits invalid: using the limits file');
        }
      }
      for (const s of cp.accounts) this.account(s.account).restore(s);
    }
    this.maxResolved = fillSeq;
    const pending: Promise<void>[] = [];
    const replayed = await this.replay(fillsStream, fillSeq, async (data, seq) => {
      const r = await this.applyWhenKnown(data, seq);
      if (r.kind === 'ok' && r.stored !== null) pending.push(r.stored);
      this.maxResolved = seq;
    });
    await Promise.all(pending);
    this.restoredFrom = { fillSeq, replayed, source };
    this.opts.log.info(
      { source, checkpointSeq: fillSeq, replayed, accounts: this.accounts.size },
      `warm restart: ${cp === null ? 'no checkpoint' : `checkpoint from ${source} at fill ${fillSeq}`}, ${replayed} fill(s) replayed`,
    );
  }

  /** Every fill after `fromSeq` up to the stream's last message at call time, in order. */
  private async replay(fillsStream: string, fromSeq: number, fn: (data: Uint8Array, seq: number) => Promise<void>, toSeq = Infinity): Promise<number> {
    const jsm = await jetstreamManager(this.opts.nc);
    const last = Math.min(toSeq, (await jsm.streams.info(fillsStream)).state.last_seq);
    if (last <= fromSeq) return 0;
    const consumer = await this.js.consumers.get(fillsStream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq + 1 });
    let n = 0;
    for (;;) {
      const m = await consumer.next({ expires: 5000 });
      if (m === null || m.seq > last) break;
      await fn(m.data, m.seq);
      n++;
      if (m.seq >= last) break;
    }
    return n;
  }

  /** Apply a replayed fill, waiting (never skipping) until its instrument's precision is known. */
  private async applyWhenKnown(data: Uint8Array, seq: number): Promise<FillOutcome> {
    for (let waited = 0; ; waited += 100) {
      const r = this.applyFillMessage(data, seq);
      if (r.kind !== 'deferred') return r;
      if (waited % 10_000 === 0) this.opts.log.warn({ seq }, 'warm restart: waiting for an instrument\'s precision (first book) to replay a fill');
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** Replay the fills between two checkpoints onto the older one: same positions as the newer? */
  private async consistent(fillsStream: string, older: Checkpoint, newer: Checkpoint): Promise<boolean> {
    const scratch = new Map<string, AccountActor>();
    for (const s of older.accounts) {
      const a = new AccountActor(s.account, this.limits.limitsFor(s.account), this, this);
      a.restore(s);
      scratch.set(s.account, a);
    }
    const known = new Map(Object.entries({ ...(older.precisions ?? {}), ...(newer.precisions ?? {}) }));
    let ok = true;
    await this.replay(
      fillsStream,
      older.fillSeq,
      async (data) => {
        let msg: unknown;
        try {
          msg = JSON.parse(new TextDecoder().decode(data));
        } catch {
          return;
        }
        const f = parseFill(msg, (s) => known.get(s) ?? this.qtyPrecision(s) ?? 8);
        if (isFillError(f) || !ACCOUNT_RE.test(f.account)) return;
        let a = scratch.get(f.account);
        if (a === undefined) {
          a = new AccountActor(f.account, this.limits.limitsFor(f.account), this, this);
          scratch.set(f.account, a);
        }
        a.applyFill(f);
      },
      newer.fillSeq,
    ).catch(() => {
      ok = false;
    });
    if (!ok) return false;
    const positions = (accounts: Iterable<{ account: string; positions: readonly { symbol: string; lots: number; avgEntry: number; realizedPnl: number }[] }>) =>
      JSON.stringify(
        [...accounts]
          .map((a) => [a.account, [...a.positions].filter((p) => p.lots !== 0 || p.realizedPnl !== 0).sort((x, y) => (x.symbol < y.symbol ? -1 : 1)).map((p) => [p.symbol, p.lots, p.avgEntry, p.realizedPnl])] as const)
          .filter(([, ps]) => ps.length > 0)
          .sort((x, y) => (x[0] < y[0] ? -1 : 1)),
      );
    return positions([...scratch.values()].map((a) => a.toSnapshot(0))) === positions(newer.accounts);
  }

  private deadLetter(m: JsMsg, why: { reason: string; field: string | null; detail: string }): void {
    this.counters.fillsDeadLettered++;
    const body = JSON.stringify({ ...why, subject: m.subject, stream_seq: m.seq, original: new TextDecoder().decode(m.data).slice(0, 4096) });
    this.js
      .publish(deadLetterSubject(this.ns, 'fills'), body, { msgID: `fill-dlq-${m.seq}` })
      .then(() => m.ack())
      .catch((err: Error) => {
        this.opts.log.error({ err: err.message }, 'dead-letter publish failed: fill left unacknowledged for redelivery');
        m.nak(5000);
      });
    this.opts.log.warn({ reason: why.reason, field: why.field, detail: why.detail, seq: m.seq }, 'fill refused: sent to the dead-letter subject');
  }

  // ------------------------------------------------------------------ pre-trade

  /** One pre-trade check inside a tracing span, timed into aether_pretrade_check_seconds. */
  private timedCheck(m: Msg): void {
    const t0 = performance.now();
    traced(SpanName.PRE_TRADE_CHECK, undefined, () => this.onCheck(m));
    latencyMetrics.preTradeCheck.observe((performance.now() - t0) / 1000);
  }

  private onCheck(m: Msg): void {
    this.counters.checks++;
    let msg: unknown;
    try {
      msg = JSON.parse(m.string());
    } catch {
      this.counters.invalid++;
      return void m.respond(JSON.stringify(invalid('(request)', 'request is not JSON')));
    }
    const o = parseOrder(msg, (s) => {
      const p = this.qtyPrecision(s);
      return p === null ? 8 : p;
    });
    if ('field' in o) {
      this.counters.invalid++;
      const code = o.unknownSymbol === true ? DenyReason.UNKNOWN_SYMBOL : DenyReason.INVALID_ORDER;
      return void m.respond(JSON.stringify({ accept: false, reasons: [{ code, field: o.field, detail: o.detail }] }));
    }
    if (!ACCOUNT_RE.test(o.account)) return void m.respond(JSON.stringify(invalid('account', 'account must be 1–64 of A-Z a-z 0-9 _ -')));
    const a = this.account(o.account);
    const d = a.check(o, Date.now() * 1000);
    if (d.accept) this.counters.accepted++;
    else this.counters.denied++;
    m.respond(JSON.stringify(d));
  }

  /** `{"account","order_id"}`: drop that order's reservation. Replies when asked (request). */
  private onRelease(m: Msg): void {
    let req: Record<string, unknown>;
    try {
      req = JSON.parse(m.string()) as Record<string, unknown>;
    } catch {
      if (m.reply) m.respond(JSON.stringify({ ok: false, error: 'request is not JSON' }));
      return;
    }
    const account = String(req.account ?? '');
    const a = this.accounts.get(account);
    const released = a !== undefined && typeof req.order_id === 'string' && a.releaseReservation(req.order_id);
    if (m.reply) m.respond(JSON.stringify({ ok: released, ...(released ? {} : { error: 'no open reservation for that account and order_id' }) }));
  }

  // ------------------------------------------------------------------ admin

  private authorized(token: unknown): boolean {
    if (this.tokenDigest === null || typeof token !== 'string') return false;
    return timingSafeEqual(this.tokenDigest, createHash('sha256').update(token).digest());
  }

  private onAdmin(cmd: 'halt' | 'release' | 'limits' | 'positions', m: Msg): void {
    let req: Record<string, unknown>;
    try {
      req = JSON.parse(m.string()) as Record<string, unknown>;
    } catch {
      return void m.respond(JSON.stringify({ ok: false, error: 'request is not JSON' }));
    }
    const now = Date.now() * 1000;
    if (cmd === 'positions') {
      const name = String(req.account ?? '');
      return void m.respond(JSON.stringify({ ok: true, ...this.accountRisk(name) }));
    }
    if (!this.authorized(req.token)) {
      this.counters.adminRefused++;
      this.opts.log.warn({ command: cmd }, 'admin command refused: missing or wrong token');
      return void m.respond(JSON.stringify({ ok: false, error: this.tokenDigest === null ? 'admin commands are disabled (AETHER_ADMIN_TOKEN not set)' : 'not authorized' }));
    }
    if (cmd === 'limits') {
      try {
        this.limits = req.limits !== undefined ? parseLimits(req.limits, 'limits') : loadLimitsFile(this.opts.config.limitsFile);
        this.limitsOverride = req.limits !== undefined ? req.limits : null;
      } catch (err) {
        return void m.respond(JSON.stringify({ ok: false, error: (err as Error).message }));
      }
      for (const [name, a] of this.accounts) a.limits = this.limits.limitsFor(name);
      this.opts.log.info({ accounts: this.accounts.size }, 'limits reloaded');
      return void m.respond(JSON.stringify({ ok: true }));
    }
    const name = String(req.account ?? '');
    if (!ACCOUNT_RE.test(name)) return void m.respond(JSON.stringify({ ok: false, error: 'account must be 1–64 of A-Z a-z 0-9 _ -' }));
    const a = this.account(name);
    if (cmd === 'halt') a.halt(String(req.reason ?? 'no reason given').slice(0, 200), now);
    else a.release(now);
    this.drainEvents(a);
    m.respond(JSON.stringify({ ok: true, account: name, state: a.state, reason: a.stateReason }));
  }

  // ------------------------------------------------------------------ state events and account risk

  private readonly pendingEvents = new Set<Promise<unknown>>();

  /**
   * Publish the account's new trading-state events (EVENTS stream) and store their records;
   * the promise resolves once every record is stored (null when there were none).
   */
  private drainEvents(a: AccountActor): Promise<void> | null {
    const stores: Promise<void>[] = [];
    for (const e of a.events.splice(0)) {
      const p = this.js
        .publish(stateEventSubject(this.ns, e.account), JSON.stringify(e), { msgID: e.eventId })
        .then(() => void this.counters.eventsPublished++)
        .catch((err: Error) => {
          this.counters.eventPublishErrors++;
          a.events.push(e); // keep it: retried on the next evaluation
          this.opts.log.error({ err: err.message, eventId: e.eventId }, 'trading-state event not stored yet: will retry');
        })
        .finally(() => this.pendingEvents.delete(p));
      this.pendingEvents.add(p);
      const sink = this.opts.records;
      if (sink != null) stores.push(sink.store({ k: 'event', eventId: e.eventId, account: e.account, from: e.from, to: e.to, reason: e.reason, manual: e.manual, timeUs: e.timeUs }));
      this.opts.feed?.emit('event', e);
      this.opts.log.warn({ account: e.account, from: e.from, to: e.to, reason: e.reason, manual: e.manual }, `account ${e.account}: ${e.from} → ${e.to}`);
    }
    return stores.length === 0 ? null : Promise.all(stores).then(() => undefined);
  }

  private async flushEvents(): Promise<void> {
    await Promise.allSettled([...this.pendingEvents]);
  }

  private evaluateAll(): void {
    const now = Date.now() * 1000;
    for (const a of this.accounts.values()) {
      a.evaluate(now);
      this.drainEvents(a);
      const risk = this.accountRisk(a.account);
      this.opts.nc.publish(portfolioSubject(this.ns, a.account), this.packr.pack(risk));
      this.opts.feed?.emit('portfolio', risk as unknown as FeedEvents['portfolio']);
    }
  }

  /** Account risk: positions, PnL, exposure, VaR/ES and the instrument sequence each figure reflects. */
  accountRisk(name: string): AccountRisk | { account: string; known: false } {
    const a = this.accounts.get(name);
    if (a === undefined) return { account: name, known: false };
    const positions: PositionRisk[] = [];
    const exposures = new Map<string, number>();
    const reflects: Record<string, { seq: number; epoch: number }> = {};
    let unrealized = 0;
    let realized = 0;
    for (const p of a.positions.values()) {
      const m = this.market(p.symbol);
      const v = this.views.get(p.symbol);
      const mid = m?.mid ?? null;
      const exec = v !== undefined && v.bidCount > 0 && v.askCount > 0 ? (p.lots > 0 ? v.bidPrice(0) : v.askPrice(0)) : null;
      const notional = mid === null ? null : p.qty * mid;
      if (notional !== null && notional !== 0) exposures.set(p.symbol, notional);
      const u = mid === null ? 0 : p.unrealizedAt(mid);
      unrealized += u;
      realized += p.realizedPnl;
      if (v !== undefined) reflects[p.symbol] = { seq: v.seq, epoch: v.epoch };
      // Liquidation: flatten the position at market against the live book.
      const liq = v !== undefined && p.lots !== 0 ? costToTrade(v, p.lots > 0 ? -1 : 1, Math.abs(p.qty)) : null;
      // Stand-alone VaR/ES of this position over the account's horizon (normal, EWMA σ).
      const sigma = this.volatility(p.symbol, a.limits.varHorizonSec);
      const sv = sigma === null || notional === null ? null : sigma * Math.abs(notional);
      const il = a.limits.instruments[p.symbol] ?? a.limits.defaultInstrument;
      positions.push({
        symbol: p.symbol,
        qty: p.qty,
        avgEntry: p.avgEntry,
        realizedPnl: p.realizedPnl,
        unrealizedPnlMid: mid === null ? null : u,
        unrealizedPnlExec: exec === null ? null : p.unrealizedAt(exec),
        notional,
        liquidationCost: liq === null || liq.filled === 0 ? null : liq.slippageQuote,
        liquidationCostBps: liq === null || liq.filled === 0 ? null : liq.slippageBps,
        liquidationInsufficient: liq?.insufficient ?? false,
        var95: sv === null ? null : Z[0.95] * sv,
        var99: sv === null ? null : Z[0.99] * sv,
        es95: sv === null ? null : (normalDensity(Z[0.95]) / 0.05) * sv,
        es99: sv === null ? null : (normalDensity(Z[0.99]) / 0.01) * sv,
        limitUse: {
          maxPosition: il.maxPosition === null ? null : Math.abs(p.qty) / il.maxPosition,
          maxNotional: il.maxNotional === null || notional === null ? null : Math.abs(notional) / il.maxNotional,
        },
        health: m?.health ?? null,
        volAnnual: this.volatility(p.symbol, 365 * 86_400),
      });
    }
    let gross = 0;
    let net = 0;
    for (const v of exposures.values()) {
      gross += Math.abs(v);
      net += v;
    }
    const h = a.limits.varHorizonSec;
    const sv = this.portfolioSigmaValue(exposures, h);
    return {
      account: name,
      known: true,
      state: a.state,
      stateReason: a.stateReason,
      simulated: this.opts.simulated,
      realizedPnl: realized,
      unrealizedPnl: unrealized,
      equity: realized + unrealized,
      dailyPnl: a.dailyPnl(),
      drawdown: a.drawdown(),
      grossExposure: gross,
      netExposure: net,
      varHorizonSec: h,
      var95: Z[0.95] * sv,
      var99: Z[0.99] * sv,
      es95: (normalDensity(Z[0.95]) / 0.05) * sv,
      es99: (normalDensity(Z[0.99]) / 0.01) * sv,
      covarianceSamples: this.cov.samples,
      historical: this.historical.get(name) ?? null,
      limitUse: {
        maxGrossExposure: a.limits.maxGrossExposure === null ? null : gross / a.limits.maxGrossExposure,
        maxNetExposure: a.limits.maxNetExposure === null ? null : Math.abs(net) / a.limits.maxNetExposure,
        maxPortfolioVar: a.limits.maxPortfolioVar === null ? null : (Z[a.limits.varConfidence] * sv) / a.limits.maxPortfolioVar,
        maxDailyLoss: a.limits.maxDailyLoss === null ? null : Math.max(0, -a.dailyPnl()) / a.limits.maxDailyLoss,
        maxDrawdown: a.limits.maxDrawdown === null ? null : a.drawdown() / a.limits.maxDrawdown,
      },
      positions,
      reflects,
      timeUs: Date.now() * 1000,
    };
  }
}

function invalid(field: string, detail: string) {
  return { accept: false, reasons: [{ code: DenyReason.INVALID_ORDER, field, detail }] };
}
