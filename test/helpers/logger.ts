import { pino } from 'pino';
import type { Logger } from '../../engine/logger.js';

/** A real pino logger that keeps lines in memory (tests read state, not logs). */
export function memoryLogger(level = 'warn'): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(s) }) as Logger & { lines: string[] };
  log.lines = lines;
  return log;
}
