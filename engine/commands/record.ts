/**
 * `aether-risk record --out FILE`: connect like `start` and write every received frame,
 * verbatim, one JSON line each: `{"t":<receive time, epoch µs>,"f":"<frame text>"}`.
 * `replay` reads these lines (and plain frame-per-line files) directly.
 */
import { createWriteStream } from 'node:fs';
import { KrakenClient } from '../../adapters/kraken/client.js';
import { defaultSimPairs, startSimExchange, type SimExchange } from '../../adapters/kraken-sim/index.js';
import { systemClock, systemTimers } from '../clock.js';
import type { Config } from '../config.js';
import { ConnectBudget } from '../connect-budget.js';
import type { Logger } from '../logger.js';

export async function runRecord(config: Config, log: Logger, opts: { out: string; durationSec: number | null }): Promise<number> {
  let sim: SimExchange | null = null;
  let url = config.krakenUrl;
  let symbols: readonly string[] = config.symbols.kind === 'list' ? config.symbols.symbols : [];
  if (config.simulation) {
    const pairs = defaultSimPairs(config.simSymbols);
    sim = await startSimExchange({ port: config.simPort, pairs, bookRatePerSymbol: config.simRate });
    url = sim.url;
    symbols = pairs.map((p) => p.symbol);
    log.warn({ simulated: true, url }, 'SIMULATION MODE: recording the simulated exchange, not Kraken');
  } else if (config.symbols.kind === 'all-usd') {
    log.error({}, 'record needs an explicit symbol list (AETHER_SYMBOLS or --symbols)');
    return 2;
  }
  const out = createWriteStream(opts.out, { flags: 'w' });
  let frames = 0;
  let dropped = 0;
  const client = new KrakenClient({
    url,
    symbols,
    depth: config.bookDepth,
    simulated: sim !== null,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    quietAfterMs: config.quietAfterMs,
    budget: ConnectBudget.create(config.connectBudget),
    clock: systemClock,
    timers: systemTimers,
    log,
    onRisk: () => undefined,
    onRawFrame: (frame, recvUs) => {
      // Bounded: if the disk cannot keep up past 64 MiB of buffered lines, drop and count.
      if (out.writableLength > 64 * 1024 * 1024) {
        dropped++;
        return;
      }
      frames++;
      out.write(`{"t":${recvUs},"f":${JSON.stringify(frame.toString('utf8'))}}\n`);
    },
  });
  client.start();
  log.info({ out: opts.out, symbols: symbols.length, depth: config.bookDepth, durationSec: opts.durationSec }, 'recording');
  await new Promise<void>((resolve) => {
    const finish = () => {
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      resolve();
    };
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
    if (opts.durationSec !== null) setTimeout(finish, opts.durationSec * 1000).unref();
  });
  await client.stop();
  await new Promise<void>((resolve) => out.end(resolve));
  await sim?.close();
  log.info({ frames, dropped, out: opts.out }, 'recording finished');
  return dropped > 0 ? 1 : 0;
}
