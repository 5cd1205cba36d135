/**
 * Prometheus metrics (prom-client), one registry for the process. Workers count in their own
 * thread and report totals to the supervisor, which sets these gauges/counters here.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HOT_PATH_BUCKETS_US, type WorkerStats } from './worker-protocol.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'aether_' });

const perSymbol = (name: string, help: string) => new Gauge({ name, help, labelNames: ['symbol'], registers: [registry] });
const perWorker = (name: string, help: string) => new Gauge({ name, help, labelNames: ['worker'], registers: [registry] });

const BOOK_HEALTH = ['SYNCING', 'LIVE', 'RESYNCING', 'STALE', 'HALTED', 'REJECTED'];

/**
 * A histogram whose buckets are counted elsewhere (in the worker threads, cumulative) and
 * exposed here as they were last reported: prom-client's Histogram can only observe values.
 */
class ReportedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { buckets: readonly number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    /** Upper bounds in the unit of the name (seconds). */
    private readonly bounds: readonly number[],
  ) {}

  set(labelValue: string, buckets: readonly number[], sum: number, count: number): void {
    this.series.set(labelValue, { buckets, sum, count });
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: { value: number; labels: Record<string, string | number>; metricName: string }[] } {
    const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
    for (const [lv, s] of this.series) {
      let cum = 0;
      this.bounds.forEach((le, i) => {
        cum += s.buckets[i] ?? 0;
        values.push({ value: cum, labels: { [this.label]: lv, le }, metricName: `${this.name}_bucket` });
      });
      cum += s.buckets[this.bounds.length] ?? 0;
      values.push({ value: cum, labels: { [this.label]: lv, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: s.sum, labels: { [this.label]: lv }, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: { [this.label]: lv }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}

const hotPath = new ReportedHistogram(
  'aether_hot_path_seconds',
  'Frame in → book, checksum and risk record out, per worker: one frame in 16 timed in the worker (cumulative since the worker started)',
  'worker',
  HOT_PATH_BUCKETS_US.map((us) => us / 1e6),
);
registry.registerMetric(hotPath as unknown as Parameters<Registry['registerMetric']>[0]);

export const metrics = {
  hotPath,
  workerRestarts: new Counter({ name: 'aether_worker_restarts_total', help: 'Worker threads restarted after a crash or unexpected exit', registers: [registry] }),
  bookMessages: perSymbol('aether_book_messages_total', 'Book messages received per symbol (since the hosting worker started)'),
  checksumsVerified: perSymbol('aether_checksums_verified_total', 'Book checksums verified per symbol'),
  checksumMismatches: perSymbol('aether_checksum_mismatches_total', 'Book checksum mismatches per symbol'),
  resyncs: perSymbol('aether_resyncs_total', 'Book resyncs requested per symbol'),
  bookHealth: new Gauge({ name: 'aether_book_health', help: 'Book health per symbol (1 for the current state)', labelNames: ['symbol', 'state'], registers: [registry] }),
  frames: perWorker('aether_feed_frames_total', 'Kraken frames received per worker'),
  malformed: perWorker('aether_feed_malformed_total', 'Malformed or unexpected Kraken frames per worker'),
  published: perWorker('aether_risk_published_total', 'Risk records published per worker'),
  conflated: perWorker('aether_risk_conflated_total', 'Risk updates conflated (superseded before publish) per worker'),
  natsDropped: perWorker('aether_nats_dropped_total', 'Risk publishes dropped while NATS was disconnected, per worker'),
  mailboxDropped: perWorker('aether_mailbox_dropped_total', 'Control messages refused by a full worker mailbox'),
  mailboxDepth: perWorker('aether_mailbox_depth', 'Control messages waiting in a worker mailbox (at the last report)'),
  mailboxHighWater: perWorker('aether_mailbox_high_water', 'Most control messages ever waiting in a worker mailbox'),
  tradesDropped: perWorker('aether_trades_dropped_total', 'Trades not passed from a worker to the main thread because one report interval held more than 50,000'),
  connected: perWorker('aether_feed_connected', 'Whether the worker is connected to Kraken (1/0)'),

  observeWorker(index: number, s: WorkerStats): void {
    const w = String(index);
    this.frames.set({ worker: w }, s.frames);
    this.malformed.set({ worker: w }, s.malformed + s.unexpected);
    this.published.set({ worker: w }, s.published);
    this.conflated.set({ worker: w }, s.conflated);
    this.natsDropped.set({ worker: w }, s.natsDropped);
    this.mailboxDropped.set({ worker: w }, s.mailboxDropped);
    this.mailboxDepth.set({ worker: w }, s.mailboxDepth);
    this.mailboxHighWater.set({ worker: w }, s.mailboxHighWater);
    this.tradesDropped.set({ worker: w }, s.tradesDropped);
    this.hotPath.set(w, s.hotPath.buckets, s.hotPath.sumUs / 1e6, s.hotPath.count);
    this.connected.set({ worker: w }, s.connected ? 1 : 0);
    for (const sym of s.symbols) {
      const l = { symbol: sym.symbol };
      this.bookMessages.set(l, sym.counters.bookMessages);
      this.checksumsVerified.set(l, sym.counters.checksumsVerified);
      this.checksumMismatches.set(l, sym.counters.checksumMismatches);
      this.resyncs.set(l, sym.counters.resyncs);
      for (const state of BOOK_HEALTH) this.bookHealth.set({ symbol: sym.symbol, state }, state === sym.health ? 1 : 0);
    }
  },
};

/**
 * The HTTP/WebSocket gateway (engine/gateway/). Refusals carry a `reason` label, one per
 * distinct HTTP status or close code (docs/streaming.md lists them).
 */
export const gatewayMetrics = {
  clients: new Gauge({ name: 'aether_gateway_clients', help: 'Open WebSocket connections on /v1/stream', registers: [registry] }),
  connections: new Counter({ name: 'aether_gateway_connections_total', help: 'WebSocket connections accepted', registers: [registry] }),
  refusals: new Counter({
    name: 'aether_gateway_refusals_total',
    help: 'Connections or messages refused: unauthorized (401), origin (403), ip_limit (429), server_full (503), message_too_big (1009), rate_limited (4008), idle_timeout (4010), token_revoked (4401)',
    labelNames: ['reason'],
    registers: [registry],
  }),
  conflations: new Counter({ name: 'aether_gateway_conflations_total', help: 'Times a client was switched to latest-value-only delivery because its send buffer passed AETHER_GATEWAY_CONFLATE_BYTES', registers: [registry] }),
  conflatedUpdates: new Counter({
    name: 'aether_gateway_conflated_updates_total',
    help: 'Updates superseded before delivery, by cause: rate (the client asked for maxRateHz) or backpressure (latest-value mode)',
    labelNames: ['cause'],
    registers: [registry],
  }),
  slowClientCloses: new Counter({ name: 'aether_gateway_slow_client_closes_total', help: 'Clients closed (4001) because their send buffer passed AETHER_GATEWAY_CLOSE_BYTES', registers: [registry] }),
  sendDropped: new Counter({ name: 'aether_gateway_send_dropped_total', help: 'Messages uWebSockets.js dropped at its backpressure limit (the client is then closed as slow)', registers: [registry] }),
  messagesSent: new Counter({ name: 'aether_gateway_messages_sent_total', help: 'Messages sent to WebSocket clients (control and data)', registers: [registry] }),
  updates: new Counter({ name: 'aether_gateway_updates_total', help: 'Updates fanned out (counted once per update, not per client)', labelNames: ['kind'], registers: [registry] }),
  controlMessages: new Counter({ name: 'aether_gateway_control_messages_total', help: 'Control messages received, by op', labelNames: ['op'], registers: [registry] }),
  errors: new Counter({ name: 'aether_gateway_errors_total', help: 'Error replies sent to clients, by code', labelNames: ['code'], registers: [registry] }),
  httpRequests: new Counter({ name: 'aether_http_requests_total', help: 'HTTP requests served, by route and status', labelNames: ['route', 'status'], registers: [registry] }),
  ready: new Gauge({ name: 'aether_ready', help: 'Readiness as /readyz last evaluated it (1 ready, 0 not)', registers: [registry] }),
  componentOk: new Gauge({ name: 'aether_component_ok', help: 'Per readiness component: 1 ok, 0 failing', labelNames: ['component'], registers: [registry] }),
};

/** Latency of the main-thread hot paths (the per-frame path runs in workers; see docs/benchmarks.md). */
export const latencyMetrics = {
  preTradeCheck: new Histogram({
    name: 'aether_pretrade_check_seconds',
    help: 'Time to decide one pre-trade check (parse, limits, live-book walk, reply)',
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [registry],
  }),
  riskDelivery: new Histogram({
    name: 'aether_risk_delivery_seconds',
    help: 'Frame receive (in the worker) to the risk record reaching the main thread\'s feed (includes the 250 ms worker report interval)',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
};
