import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { runUntilSignal, startEngine } from '../runtime.js';
import { runDemo } from './demo.js';

/** `aether-risk start`: the engine against Kraken (or the simulated exchange when enabled). */
export async function runStart(config: Config, log: Logger): Promise<number> {
  if (config.simulation) return runDemo(config, log);
  const engine = await startEngine(config, log, { simulated: false });
  return runUntilSignal(engine, log);
}
