/**
 * The small interfaces ("ports") that the engine declares and adapters implement or use.
 */
export type { Clock, Timers } from './clock.js';

/** The subset of pino's Logger that adapters use (so tests can pass pino or a stub writer). */
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * Logging that cannot flood: per key, the first message is logged, further ones within
 * `windowMs` are counted and reported with the next message logged for that key.
 */
export class LogLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Log,
    private readonly windowMs = 10_000,
    private readonly maxKeys = 1000,
  ) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    this.emit('warn', key, obj, msg);
  }

  error(key: string, obj: Record<string, unknown>, msg: string): void {
    this.emit('error', key, obj, msg);
  }

  private emit(level: 'warn' | 'error', key: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const s = this.last.get(key);
    if (s !== undefined && now - s.at < this.windowMs) {
      s.suppressed++;
      return;
    }
    if (s === undefined && this.last.size >= this.maxKeys) this.last.clear();
    const suppressed = s?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0 });
    this.log[level](suppressed > 0 ? { ...obj, suppressed } : obj, msg);
  }
}
