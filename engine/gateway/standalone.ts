/**
 * `aether-risk gateway`: the gateway as its own process, fed from NATS (risk, account risk and
 * state events of the engine that publishes in AETHER_NATS_NAMESPACE). Scale it out
 * independently of the engine; it holds no market state of its own beyond the latest values.
 *
 * Readiness: `nats` (connected) and `feed` (at least one instrument reported LIVE by the
 * engine). Order books and trades are not on NATS, so `book.*` and `trades.*` are refused
 * with UNAVAILABLE here.
 */
import { BookHealth } from '../../actors/risk.js';
import type { Config } from '../config.js';
import { ConfigError, ErrorCode } from '../errors.js';
import { HealthRegistry } from '../health.js';
import type { Logger } from '../logger.js';
import { runUntilSignal } from '../runtime.js';
import { resolveAuth } from './auth.js';
import { startGateway, type Gateway } from './server.js';
import { natsSource, type NatsSource } from './source.js';

export interface StandaloneGateway {
  readonly gateway: Gateway;
  readonly source: NatsSource;
  readonly health: HealthRegistry;
  stop(): Promise<void>;
}

/** Start the NATS-fed gateway (used by the CLI command and by tests). */
export function startStandaloneGateway(config: Config, log: Logger): StandaloneGateway {
  if (config.natsUrl === null) {
    throw new ConfigError([{ key: 'NATS_URL', message: 'must be set: the gateway process is fed from NATS (the gateway embedded in `start`/`demo` needs no NATS)', code: ErrorCode.E_CONFIG }]);
  }
  const auth = resolveAuth(config);
  const health = new HealthRegistry();
  const source = natsSource(config, log);
  health.register({
    name: 'nats',
    check: () => ({ ok: source.connected, detail: { state: source.connected ? 'connected' : 'disconnected', ...source.counters } }),
  });
  health.register({
    name: 'feed',
    check: () => {
      const symbols: Record<string, string> = {};
      let live = 0;
      for (const s of source.symbols()) {
        const h = source.latestRisk(s)?.health ?? BookHealth.SYNCING;
        symbols[s] = h;
        if (h === BookHealth.LIVE) live++;
      }
      return { ok: live > 0, detail: { live, total: source.symbols().length, symbols, ...(live === 0 ? { failing: 'no instrument reported LIVE on NATS' } : {}) } };
    },
  });
  let gateway: Gateway;
  try {
    gateway = startGateway({ config, log, source, health, auth });
  } catch (err) {
    void source.close();
    throw err;
  }
  let stopped: Promise<void> | null = null;
  return {
    gateway,
    source,
    health,
    stop: () => {
      stopped ??= (async () => {
        await gateway.stop();
        await source.close();
        log.info({}, 'gateway stopped');
      })();
      return stopped;
    },
  };
}

export async function runGateway(config: Config, log: Logger): Promise<number> {
  const g = startStandaloneGateway(config, log);
  return runUntilSignal(g, log);
}
