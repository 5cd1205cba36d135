/**
 * `aether-risk replay`: push a file of raw Kraken v2 frames (one per line, verbatim, as
 * received — or as written by `record`) through the same parse → book → checksum → risk
 * path as live, and summarise per symbol.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createReplaySession, KRAKEN_DEFAULT_DEPTH } from '../../adapters/kraken/session.js';
import type { Config } from '../config.js';
import { AetherError } from '../errors.js';
import type { Logger } from '../logger.js';

export interface ReplayOptions {
  file: string;
  depth: number | null;
  precision: Map<string, { price: number; qty: number }>;
  strict: boolean;
  json: boolean;
}

export interface SymbolSummary {
  bookMessages: number;
  checksumsVerified: number;
  checksumMismatches: number;
  resyncs: number;
}

export interface ReplaySummary {
  symbols: Record<string, SymbolSummary>;
}

/** Replay a file; returns the summary (no printing). Lines may be raw frames or `record` output. */
export async function replayFile(file: string, log: Logger, opts: { depth: number | null; precision: Map<string, { price: number; qty: number }> }): Promise<ReplaySummary & { lines: number; malformed: number }> {
  let clockUs = 0;
  const session = createReplaySession({
    depth: opts.depth ?? KRAKEN_DEFAULT_DEPTH,
    depthFixed: opts.depth !== null,
    precision: opts.precision,
    clock: { nowUs: () => clockUs },
    log,
    onRisk: () => undefined,
  });
  let lines = 0;
  const input = createReadStream(file);
  const rejectOpen = new Promise<never>((_, reject) => input.once('error', (err) => reject(new AetherError('E_REPLAY_INPUT', `cannot read ${file}: ${err.message}`))));
  const rl = createInterface({ input, crlfDelay: Infinity });
  const consume = (async () => {
    for await (const line of rl) {
      if (line.length === 0) continue;
      lines++;
      const { frame, recvUs } = unwrap(line);
      clockUs = recvUs >= 0 ? recvUs : clockUs + 1;
      session.onFrame(Buffer.from(frame), clockUs);
    }
  })();
  await Promise.race([consume, rejectOpen]);
  const symbols: Record<string, SymbolSummary> = {};
  for (const a of session.actors.values()) {
    symbols[a.symbol] = {
      bookMessages: a.counters.bookMessages,
      checksumsVerified: a.counters.checksumsVerified,
      checksumMismatches: a.counters.checksumMismatches + a.counters.precisionErrors,
      resyncs: a.counters.resyncs,
    };
  }
  return { symbols, lines, malformed: session.counters.malformed + session.counters.unexpected };
}

/**
 * A line is either a raw frame, or a `record` line `{"t":<epoch µs>,"f":"<frame text>"}`.
 * Raw Kraken frames never have a top-level "f" key, so the two cannot be confused.
 */
function unwrap(line: string): { frame: string; recvUs: number } {
  if (line.startsWith('{"t":')) {
    try {
      const o = JSON.parse(line) as { t?: unknown; f?: unknown };
      if (typeof o.f === 'string') return { frame: o.f, recvUs: typeof o.t === 'number' ? o.t : -1 };
    } catch {
      // fall through: treat as a raw frame (the session counts it as malformed if it is)
    }
  }
  return { frame: line, recvUs: -1 };
}

export async function runReplay(_config: Config, log: Logger, opts: ReplayOptions): Promise<number> {
  const result = await replayFile(opts.file, log, opts);
  const summary: ReplaySummary = { symbols: result.symbols };
  const mismatches = Object.values(result.symbols).reduce((n, s) => n + s.checksumMismatches, 0);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    const rows = Object.entries(result.symbols).map(([sym, s]) => `  ${sym.padEnd(14)} ${String(s.bookMessages).padStart(9)} ${String(s.checksumsVerified).padStart(9)} ${String(s.checksumMismatches).padStart(10)} ${String(s.resyncs).padStart(7)}`);
    process.stdout.write(
      [`replayed ${result.lines} frames from ${opts.file}${result.malformed > 0 ? ` (${result.malformed} malformed or unexpected)` : ''}`, `  ${'symbol'.padEnd(14)} ${'book msgs'.padStart(9)} ${'verified'.padStart(9)} ${'mismatches'.padStart(10)} ${'resyncs'.padStart(7)}`, ...rows, ''].join('\n'),
    );
  }
  if (opts.strict && mismatches > 0) {
    log.error({ mismatches }, 'replay --strict: checksum mismatches found');
    return 1;
  }
  return 0;
}
