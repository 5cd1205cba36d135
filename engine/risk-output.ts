/**
 * The worker's risk output port: per-symbol sequence numbers, conflation to a maximum rate,
 * msgpack encoding and the NATS publish, plus a conflated copy for the main thread (log,
 * gateway). Runs synchronously in the actor's turn; the only deferred work is the trailing
 * publish of a conflated symbol, on a timer.
 */
import type { InstrumentActor } from '../actors/instrument.js';
import type { MarketRisk } from '../actors/risk.js';
import { createRiskEncoder } from '../adapters/nats/codec.js';
import { riskSubject } from './switchboard.js';
import type { Clock } from './clock.js';

export interface RiskSink {
  publish(subject: string, payload: Uint8Array): void;
}

interface Slot {
  readonly actor: InstrumentActor;
  readonly subject: string;
  lastPublishUs: number;
  pending: boolean;
  /** Changed since the main thread last took a copy. */
  changed: boolean;
}

export class RiskOutput {
  private readonly slots = new Map<InstrumentActor, Slot>();
  private readonly encoder = createRiskEncoder();
  private readonly intervalUs: number;
  private readonly pendingSlots = new Set<Slot>();
  private flushTimer: NodeJS.Timeout | null = null;
  published = 0;
  conflated = 0;

  constructor(
    private readonly sink: RiskSink | null,
    private readonly namespace: string,
    maxRateHz: number,
    private readonly clock: Clock,
  ) {
    this.intervalUs = maxRateHz > 0 ? Math.round(1e6 / maxRateHz) : 0;
  }

  private slot(actor: InstrumentActor): Slot {
    let s = this.slots.get(actor);
    if (s === undefined) {
      s = { actor, subject: riskSubject(this.namespace, actor.symbol), lastPublishUs: -Infinity, pending: false, changed: false };
      this.slots.set(actor, s);
    }
    return s;
  }

  /** The actor's risk record changed. */
  offer(actor: InstrumentActor): void {
    const s = this.slot(actor);
    s.changed = true;
    if (this.intervalUs === 0) return this.emit(s);
    const now = this.clock.nowUs();
    if (now - s.lastPublishUs >= this.intervalUs) return this.emit(s, now);
    if (!s.pending) {
      s.pending = true;
      this.conflated++;
      this.pendingSlots.add(s);
      this.armFlush(s.lastPublishUs + this.intervalUs - now);
    } else this.conflated++;
  }

  private emit(s: Slot, now = -1): void {
    const risk = s.actor.risk;
    risk.seq++;
    s.lastPublishUs = now >= 0 ? now : this.clock.nowUs();
    if (s.pending) {
      s.pending = false;
      this.pendingSlots.delete(s);
    }
    this.published++;
    if (this.sink !== null) this.sink.publish(s.subject, this.encoder.encode(risk));
  }

  private armFlush(delayUs: number): void {
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => this.flushDue(), Math.max(1, Math.ceil(delayUs / 1000)));
  }

  private flushDue(): void {
    this.flushTimer = null;
    const now = this.clock.nowUs();
    let next = Infinity;
    for (const s of this.pendingSlots) {
      const due = s.lastPublishUs + this.intervalUs;
      if (due <= now) {
        this.pendingSlots.delete(s);
        this.emit(s, now);
      } else if (due - now < next) next = due - now;
    }
    if (next !== Infinity) this.armFlush(next);
  }

  /** Publish everything still pending (shutdown). */
  flush(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    for (const s of this.pendingSlots) this.emit(s);
    this.pendingSlots.clear();
  }

  /** Copies of the records that changed since the last call (for the main thread). */
  takeChanged(): MarketRisk[] {
    const out: MarketRisk[] = [];
    for (const s of this.slots.values()) {
      if (!s.changed) continue;
      s.changed = false;
      out.push({ ...s.actor.risk });
    }
    return out;
  }
}
