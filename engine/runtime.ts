/**
 * The engine's composition root: resolves the instruments, starts the supervisor and its
 * worker actors, logs which outputs are on, logs a periodic risk summary, and stops
 * gracefully. Used by `start`, `demo` and the tests.
 */
import type { MarketRisk } from '../actors/risk.js';
import { discoverPairs, usdOnlineSymbols } from '../adapters/kraken/discover.js';
import type { Config } from './config.js';
import { ConnectBudget } from './connect-budget.js';
import type { Logger } from './logger.js';
import { shardSymbols } from './shard-map.js';
import { Supervisor } from './supervisor.js';
import { RiskHost } from './risk-host.js';
import { EngineFeed } from './feed.js';
import { HealthRegistry } from './health.js';
import { resolveAuth, type Gateway } from './gateway/index.js';
import { wireGateway } from './gateway/embedded.js';
import { startPersistence, type Persistence } from './persist/index.js';
import { connect as natsConnect } from '@nats-io/transport-node';

export interface EngineOptions {
  /** Venue URL (the simulated exchange's in demo mode). Default: config.krakenUrl. */
  krakenUrl?: string;
  /** Symbols to follow instead of config.symbols (demo: the simulated pairs). */
  symbols?: readonly string[];
  simulated: boolean;
  onRisk?(records: readonly MarketRisk[]): void;
}

export interface Engine {
  readonly supervisor: Supervisor;
  /** In-process fan-out of risk, trades, feed gaps, account risk and events (engine/feed.ts). */
  readonly feed: EngineFeed;
  /** PostgreSQL, Redis and the record path; null when neither DATABASE_URL nor REDIS_URL is set. */
  readonly persistence: Promise<Persistence | null>;
  /**
   * Accounts, fills, pre-trade checks (only with NATS configured). Resolves once NATS is
   * reachable: the market feed does not wait for it.
   */
  readonly riskHost: Promise<RiskHost | null>;
  readonly symbols: readonly string[];
  /** Readiness components (GET /readyz); persistence registers its own here too. */
  readonly health: HealthRegistry;
  /** The HTTP/WebSocket gateway on PORT (docs/streaming.md); null when off or not bound. */
  readonly gateway: Gateway | null;
  stop(): Promise<void>;
}

export async function startEngine(config: Config, log: Logger, opts: EngineOptions): Promise<Engine> {
  // Gateway tokens first: production without them is refused before any socket opens.
  const gatewayAuth = config.gateway ? resolveAuth(config) : null;
  const krakenUrl = opts.krakenUrl ?? config.krakenUrl;
  // One connection budget for the whole process: discovery and every worker draw from it.
  const budget = ConnectBudget.create(config.connectBudget);
  const all = opts.symbols ?? (await discoverInterruptibly(config, krakenUrl, log, budget));
  const symbols = shardSymbols(all, config.shardIndex, config.shardCount);
  log.info(
    {
      outputs: {
        nats: config.natsUrl !== null ? 'on' : 'off (NATS_URL not set)',
        log: config.logSummaryMs > 0 ? 'on' : 'off (AETHER_LOG_SUMMARY_MS=0)',
        postgres: config.databaseUrl !== null ? `on (schema ${config.dbSchema}, ${config.natsUrl !== null ? 'through JetStream' : 'in-process queue'})` : 'off (DATABASE_URL not set)',
        redis: config.redisUrl !== null ? 'on' : 'off (REDIS_URL not set)',
      },
      simulated: opts.simulated,
      venue: krakenUrl,
      shard: `${config.shardIndex}/${config.shardCount}`,
      instruments: symbols.length,
      depth: config.bookDepth,
    },
    `engine starting: NATS ${config.natsUrl !== null ? 'on' : 'off'}, log on${opts.simulated ? ', SIMULATED market data' : ''}`,
  );
  const feed = new EngineFeed();
  const supervisor = new Supervisor({ config, log, symbols, krakenUrl, simulated: opts.simulated, onRisk: opts.onRisk, budget, feed });
  const health = new HealthRegistry();
  // Binds PORT before the workers start (production refuses to run without it).
  const wiring = wireGateway({ config, log, supervisor, feed, simulated: opts.simulated, health, auth: gatewayAuth });
  supervisor.start();
  let riskNats: Awaited<ReturnType<typeof natsConnect>> | null = null;
  let stopping = false;
  const wantsPersistence = config.databaseUrl !== null || config.redisUrl !== null;
  const startStores = (nc: Awaited<ReturnType<typeof natsConnect>> | null): Promise<Persistence | null> =>
    wantsPersistence ? startPersistence({ config, log, feed, board: supervisor.board, slotOf: supervisor.slotOf, latest: supervisor.latest, nc }) : Promise.resolve(null);
  let resolvePersistence!: (p: Persistence | null) => void;
  const persistence = new Promise<Persistence | null>((r) => (resolvePersistence = r));
  const riskHost: Promise<RiskHost | null> =
    config.natsUrl === null
      ? startStores(null)
          .then(resolvePersistence, (err: Error) => {
            log.error({ code: 'E_PERSISTENCE', err: err.message }, 'persistence could not start');
            resolvePersistence(null);
          })
          .then(() => null)
      : (async () => {
          riskNats = await natsConnect({ servers: config.natsUrl!.split(','), name: 'aether-risk-host', maxReconnectAttempts: -1, reconnectTimeWait: 500, waitOnFirstConnect: true });
          wiring.watchNats(riskNats);
          if (stopping) {
            resolvePersistence(null);
            return null;
          }
          // With a database or Redis configured, fills are consumed only once persistence is
          // up (a fill is acknowledged after its records are stored): retry until it starts.
          let stores: Persistence | null = null;
          for (let attempt = 1; wantsPersistence && !stopping; attempt++) {
            try {
              stores = await startStores(riskNats);
              break;
            } catch (err) {
              log.error({ code: 'E_PERSISTENCE', err: (err as Error).message, attempt }, 'persistence could not start: fills wait in JetStream; retrying in 5 s');
              await new Promise((r) => setTimeout(r, 5000));
            }
          }
          resolvePersistence(stores);
          if (stopping) return null;
          const host = new RiskHost({ config, log, board: supervisor.board, slotOf: supervisor.slotOf, nc: riskNats, simulated: opts.simulated, feed, records: stores?.sink ?? null, checkpoints: stores?.checkpoints ?? null });
          await host.start();
          return host;
        })().catch((err: Error) => {
          log.error({ err: err.message }, 'risk host (fills, pre-trade checks) could not start');
          resolvePersistence(null);
          return null;
        });
  wiring.bind(riskHost, persistence);
  const summary = config.logSummaryMs > 0 ? startSummary(supervisor, log, config.logSummaryMs, opts.simulated) : null;
  let stopped: Promise<void> | null = null;
  return {
    supervisor,
    feed,
    riskHost,
    persistence,
    symbols,
    health,
    gateway: wiring.gateway,
    stop: () => {
      stopped ??= (async () => {
        if (summary !== null) clearInterval(summary);
        // Clients are told first (1001), then the engine stops underneath them.
        await wiring.stop();
        stopping = true;
        // A risk host still waiting for NATS is abandoned; a running one stops first.
        const host = await Promise.race([riskHost, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
        await host?.stop();
        // Workers stop first (their last trades and gaps reach the feed), then the stores.
        await supervisor.stop();
        const stores = await Promise.race([persistence, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
        await stores?.stop();
        await (riskNats as Awaited<ReturnType<typeof natsConnect>> | null)?.drain().catch(() => undefined);
        log.info({}, 'engine stopped');
      })();
      return stopped;
    },
  };
}

/** Thrown when SIGINT/SIGTERM arrives while the instrument list is still being read. */
export class StartAborted extends Error {
  constructor() {
    super('stopped before the instrument list was read');
  }
}

/** Instrument discovery that a signal can interrupt (it retries while Kraken is unreachable). */
async function discoverInterruptibly(config: Config, krakenUrl: string, log: Logger, budget: ConnectBudget): Promise<readonly string[]> {
  if (config.symbols.kind === 'list') return config.symbols.symbols;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await resolveSymbols(config, krakenUrl, log, budget, abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function resolveSymbols(config: Config, krakenUrl: string, log: Logger, budget: ConnectBudget, signal: AbortSignal): Promise<readonly string[]> {
  if (config.symbols.kind === 'list') return config.symbols.symbols;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) throw new StartAborted();
    try {
      const pairs = await discoverPairs(krakenUrl, budget);
      const usd = usdOnlineSymbols(pairs);
      log.info({ pairs: pairs.length, usdOnline: usd.length }, 'all-usd: instrument list read from Kraken');
      return usd;
    } catch (err) {
      const wait = Math.min(60_000, 5_000 * attempt);
      log.warn(
        { code: 'E_KRAKEN_UNREACHABLE', err: (err as Error).message, nextRetryAt: new Date(Date.now() + wait).toISOString() },
        'cannot read the instrument list from Kraken; retrying. For offline use, run `npm run demo`.',
      );
      await new Promise<void>((r) => {
        const t = setTimeout(r, wait);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          r();
        }, { once: true });
      });
    }
  }
}

function fmt(v: number | null, digits = 2): string {
  return v === null ? '-' : v.toFixed(digits);
}

/** One log line per interval: health counts and the top instruments' prices. */
function startSummary(supervisor: Supervisor, log: Logger, everyMs: number, simulated: boolean): NodeJS.Timeout {
  const emit = () => {
    const records = [...supervisor.latest.values()];
    const health: Record<string, number> = {};
    for (const r of records) health[r.health] = (health[r.health] ?? 0) + 1;
    const top = records.slice(0, 8).map((r) => ({
      symbol: r.symbol,
      health: r.health,
      mid: r.mid,
      spreadBps: r.spreadBps === null ? null : Number(r.spreadBps.toFixed(2)),
      imbalance: r.imbalance === null ? null : Number(r.imbalance.toFixed(3)),
      seq: r.seq,
    }));
    const text = top.map((r) => `${r.symbol} ${r.health} mid=${r.mid ?? '-'} spread=${fmt(r.spreadBps)}bps`).join(' | ');
    const workers = supervisor.workers();
    const counters = {
      workerRestarts: workers.reduce((n, w) => n + w.restarts, 0),
      natsDropped: workers.reduce((n, w) => n + (w.stats?.natsDropped ?? 0), 0),
      checksumMismatches: workers.reduce((n, w) => n + (w.stats?.symbols.reduce((m, x) => m + x.counters.checksumMismatches, 0) ?? 0), 0),
    };
    log.info({ simulated, instruments: records.length, health, counters, risk: top }, `${simulated ? '[SIMULATED] ' : ''}risk: ${text}`);
  };
  // A first line early (after 2 s) so a person starting the engine sees risk quickly.
  if (everyMs > 2000) setTimeout(emit, 2000).unref();
  const t = setInterval(emit, everyMs);
  t.unref();
  return t;
}

/**
 * Stop on SIGINT/SIGTERM within the deadline; resolves with the exit code. Once stopped, a
 * handle that something left open (a NATS connection still retrying, say) cannot keep the
 * process alive: an unref'd timer exits a second later if the event loop has not emptied.
 */
export function runUntilSignal(engine: { stop(): Promise<void> }, log: Logger, deadlineMs = 10_000, extraStop?: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      log.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        log.error({ deadlineMs }, 'shutdown did not finish in time: exiting');
        resolve(1);
      }, deadlineMs);
      deadline.unref();
      engine
        .stop()
        .then(() => extraStop?.())
        .then(() => {
          clearTimeout(deadline);
          resolve(0);
        })
        .catch((err: Error) => {
          log.error({ err: err.message }, 'error during shutdown');
          clearTimeout(deadline);
          resolve(1);
        });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }).then((code) => {
    setTimeout(() => process.exit(code), 1000).unref();
    return code;
  });
}
