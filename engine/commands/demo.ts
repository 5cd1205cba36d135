import { defaultSimPairs, startSimExchange } from '../../adapters/kraken-sim/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { runUntilSignal, startEngine } from '../runtime.js';

/**
 * `aether-risk demo` (and `start` with simulation enabled): the simulated Kraken exchange in
 * this process, the engine pointed at it. Every record it produces is marked simulated.
 * Production refuses simulation before this module is even loaded (config validation).
 */
export async function runDemo(config: Config, log: Logger): Promise<number> {
  if (config.env === 'production') throw new Error('simulation mode cannot run with AETHER_ENV=production');
  const pairs = defaultSimPairs(config.simSymbols);
  const sim = await startSimExchange({ port: config.simPort, pairs, bookRatePerSymbol: config.simRate });
  log.warn(
    { simulated: true, url: sim.url, symbols: pairs.length, ratePerSymbol: config.simRate },
    'SIMULATION MODE: market data comes from the in-process simulated exchange, not Kraken. Nothing here is real risk.',
  );
  const symbols = pairs.map((p) => p.symbol);
  const engine = await startEngine(config, log, { krakenUrl: sim.url, symbols, simulated: true });
  return runUntilSignal(engine, log, 10_000, () => sim.close());
}
