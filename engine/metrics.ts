/**
 * Prometheus metrics (prom-client), one registry for the process. Workers count in their own
 * thread and report totals to the supervisor, which sets these gauges/counters here.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerStats } from './worker-protocol.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'aether_' });

const perSymbol = (name: string, help: string) => new Gauge({ name, help, labelNames: ['symbol'], registers: [registry] });
const perWorker = (name: string, help: string) => new Gauge({ name, help, labelNames: ['worker'], registers: [registry] });

const BOOK_HEALTH = ['SYNCING', 'LIVE', 'RESYNCING', 'STALE', 'HALTED', 'REJECTED'];

export const metrics = {
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
  connected: perWorker('aether_feed_connected', 'Whether the worker is connected to Kraken (1/0)'),

  observeWorker(index: number, s: WorkerStats): void {
    const w = String(index);
    this.frames.set({ worker: w }, s.frames);
    this.malformed.set({ worker: w }, s.malformed + s.unexpected);
    this.published.set({ worker: w }, s.published);
    this.conflated.set({ worker: w }, s.conflated);
    this.natsDropped.set({ worker: w }, s.natsDropped);
    this.mailboxDropped.set({ worker: w }, s.mailboxDropped);
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
