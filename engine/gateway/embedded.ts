/**
 * The gateway inside the engine process (the default): readiness components of the engine,
 * the embedded data source and the start/stop of the server, so runtime.ts only calls
 * `wireGateway` and binds the risk host and persistence once they exist.
 *
 * Readiness (GET /readyz) is 200 when every registered component is ok:
 *   workers   every worker thread is up and connected to the venue
 *   feed      at least one instrument is LIVE (each instrument's health is in the body)
 *   nats      (NATS configured) every worker's publisher and the risk host are connected
 *   postgres  (DATABASE_URL set) the database is reachable and writes succeed — reported
 *             under `degraded` when not, without making the process unready
 *   redis     (REDIS_URL set) Redis is connected — likewise reported, not gating
 * Components that are not configured report `{ ok: true, detail: { state: "off" } }`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { BookHealth } from '../../actors/risk.js';
import type { Config } from '../config.js';
import { ErrorCode, isAetherError } from '../errors.js';
import type { EngineFeed } from '../feed.js';
import type { HealthRegistry, HealthState } from '../health.js';
import type { Logger } from '../logger.js';
import type { Persistence } from '../persist/index.js';
import type { RiskHost } from '../risk-host.js';
import type { Supervisor } from '../supervisor.js';
import type { GatewayAuth } from './auth.js';
import { startGateway, type Gateway } from './server.js';
import { embeddedSource } from './source.js';

/** Connection state of a NATS connection, from its status events. */
export class NatsState {
  connected = false;
  /** Set once a connection exists (before that, the engine is still connecting). */
  started = false;

  watch(nc: NatsConnection): void {
    this.started = true;
    this.connected = !nc.isClosed();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnecting') this.connected = false;
        else if (s.type === 'reconnect') this.connected = true;
      }
      this.connected = false;
    })();
  }
}

export interface GatewayWiringOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly supervisor: Supervisor;
  readonly feed: EngineFeed;
  readonly simulated: boolean;
  readonly health: HealthRegistry;
  /** null: AETHER_GATEWAY=false (health components are still registered). */
  readonly auth: GatewayAuth | null;
}

export interface GatewayWiring {
  readonly gateway: Gateway | null;
  /** Call with the risk host's NATS connection once it exists. */
  watchNats(nc: NatsConnection): void;
  /** Call once the risk host and persistence promises exist. */
  bind(riskHost: Promise<RiskHost | null>, persistence: Promise<Persistence | null>): void;
  stop(): Promise<void>;
}

const OFF: HealthState = { ok: true, detail: { state: 'off' } };

export function wireGateway(opts: GatewayWiringOptions): GatewayWiring {
  const { config, log, supervisor, health } = opts;
  const nats = config.natsUrl === null ? null : new NatsState();
  let bindRiskHost!: (p: Promise<RiskHost | null>) => void;
  const riskHost = new Promise<RiskHost | null>((r) => (bindRiskHost = r as (p: Promise<RiskHost | null>) => void));
  let persistence: Persistence | null | undefined; // undefined: still starting

  health.register({
    name: 'workers',
    check: () => {
      const ws = supervisor.workers();
      const detail = ws.map((w) => ({ index: w.index, ready: w.ready, connected: w.stats?.connected ?? false, restarts: w.restarts, instruments: w.symbols.length }));
      const down = detail.filter((w) => !w.ready || !w.connected).map((w) => w.index);
      return { ok: ws.length > 0 && down.length === 0, detail: { workers: detail, ...(down.length > 0 ? { failing: down.map((i) => `worker ${i} ${detail[i]?.ready ? 'not connected to the venue' : 'not running'}`) } : {}) } };
    },
  });
  health.register({
    name: 'feed',
    check: () => {
      const symbols: Record<string, { health: string; reason: string | null }> = {};
      for (const s of Object.keys(supervisor.slotOf)) symbols[s] = { health: supervisor.latest.get(s)?.health ?? BookHealth.SYNCING, reason: null };
      for (const w of supervisor.workers()) for (const x of w.stats?.symbols ?? []) symbols[x.symbol] = { health: x.health, reason: x.reason };
      const live = Object.values(symbols).filter((x) => x.health === BookHealth.LIVE).length;
      const total = Object.keys(symbols).length;
      return { ok: live > 0, detail: { live, total, symbols, ...(live === 0 ? { failing: 'no instrument is LIVE' } : {}) } };
    },
  });
  health.register({
    name: 'nats',
    check: () => {
      if (nats === null) return OFF;
      const workers = supervisor.workers().map((w) => ({ index: w.index, connected: w.stats?.natsConnected ?? false }));
      const host = nats.connected ? 'connected' : nats.started ? 'disconnected' : 'connecting';
      const failing = [...(host !== 'connected' ? [`risk host ${host}`] : []), ...workers.filter((w) => w.connected !== true).map((w) => `worker ${w.index} publisher not connected`)];
      return { ok: failing.length === 0, detail: { riskHost: host, workers, ...(failing.length > 0 ? { failing } : {}) } };
    },
  });
  // PostgreSQL and Redis are reported but do not gate readiness: without them the engine
  // still serves risk (records wait in JetStream or the bounded queue; Redis is re-asserted).
  health.register({
    name: 'postgres',
    critical: false,
    check: () => {
      if (config.databaseUrl === null) return OFF;
      if (persistence === undefined) return { ok: false, detail: { state: 'starting' } };
      if (persistence === null) return { ok: false, detail: { state: 'failed to start' } };
      const d = persistence.status().database;
      return { ok: d.ok, detail: { state: d.ok ? 'ok' : 'failing', error: d.error } };
    },
  });
  health.register({
    name: 'redis',
    critical: false,
    check: () => {
      if (config.redisUrl === null) return OFF;
      if (persistence === undefined) return { ok: false, detail: { state: 'starting' } };
      if (persistence === null) return { ok: false, detail: { state: 'failed to start' } };
      const r = persistence.status().redis;
      return { ok: r.connected, detail: { state: r.connected ? 'connected' : 'disconnected', pendingKeys: r.pendingKeys } };
    },
  });

  let gateway: Gateway | null = null;
  if (opts.auth !== null) {
    try {
      gateway = startGateway({
        config,
        log,
        health,
        auth: opts.auth,
        source: embeddedSource({ supervisor, feed: opts.feed, simulated: opts.simulated, riskHost }),
      });
    } catch (err) {
      // Production refuses to run without its probes and stream; elsewhere (a dev machine, a
      // test run where PORT is taken) the engine runs on without the gateway.
      const code = isAetherError(err) ? err.code : null;
      if (config.env === 'production' || (code !== ErrorCode.E_GATEWAY_LISTEN && code !== ErrorCode.E_UWS_NATIVE)) throw err;
      log.warn({ code, err: (err as Error).message }, 'gateway not started: running without HTTP/WebSocket (no /healthz, /metrics or stream)');
    }
  }

  return {
    gateway,
    watchNats: (nc) => nats?.watch(nc),
    bind(host, stores) {
      bindRiskHost(host);
      void stores.then(
        (p) => (persistence = p),
        () => (persistence = null),
      );
    },
    stop: async () => {
      await gateway?.stop();
    },
  };
}
