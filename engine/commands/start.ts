import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { runUntilSignal, StartAborted, startEngine } from '../runtime.js';
import { runDemo } from './demo.js';

/** `aether-risk start`: the engine against Kraken (or the simulated exchange when enabled). */
export async function runStart(config: Config, log: Logger): Promise<number> {
  if (config.simulation) return runDemo(config, log);
  let engine;
  try {
    engine = await startEngine(config, log, { simulated: false });
  } catch (err) {
    if (err instanceof StartAborted) {
      log.info({}, 'shutting down: stopped while reading the instrument list');
      return 0;
    }
    throw err;
  }
  return runUntilSignal(engine, log);
}
