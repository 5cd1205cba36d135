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
  readonly symbols: readonly string[];
  stop(): Promise<void>;
}

export async function startEngine(config: Config, log: Logger, opts: EngineOptions): Promise<Engine> {
  const krakenUrl = opts.krakenUrl ?? config.krakenUrl;
  const all = opts.symbols ?? (await resolveSymbols(config, krakenUrl, log));
  const symbols = shardSymbols(all, config.shardIndex, config.shardCount);
  log.info(
    {
      outputs: {
        nats: config.natsUrl !== null ? 'on' : 'off (NATS_URL not set)',
        log: config.logSummaryMs > 0 ? 'on' : 'off (AETHER_LOG_SUMMARY_MS=0)',
        postgres: 'off (no writer in this version)',
        redis: 'off (no writer in this version)',
      },
      simulated: opts.simulated,
      venue: krakenUrl,
      shard: `${config.shardIndex}/${config.shardCount}`,
      instruments: symbols.length,
      depth: config.bookDepth,
    },
    `engine starting: NATS ${config.natsUrl !== null ? 'on' : 'off'}, log on${opts.simulated ? ', SIMULATED market data' : ''}`,
  );
  const supervisor = new Supervisor({ config, log, symbols, krakenUrl, simulated: opts.simulated, onRisk: opts.onRisk });
  supervisor.start();
  const summary = config.logSummaryMs > 0 ? startSummary(supervisor, log, config.logSummaryMs, opts.simulated) : null;
  let stopped: Promise<void> | null = null;
  return {
    supervisor,
    symbols,
    stop: () => {
      stopped ??= (async () => {
        if (summary !== null) clearInterval(summary);
        await supervisor.stop();
        log.info({}, 'engine stopped');
      })();
      return stopped;
    },
  };
}

async function resolveSymbols(config: Config, krakenUrl: string, log: Logger): Promise<readonly string[]> {
  if (config.symbols.kind === 'list') return config.symbols.symbols;
  const budget = ConnectBudget.create(1, 5_000);
  for (let attempt = 1; ; attempt++) {
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
      await new Promise((r) => setTimeout(r, wait));
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
    log.info({ simulated, instruments: records.length, health, risk: top }, `${simulated ? '[SIMULATED] ' : ''}risk: ${text}`);
  };
  const first = setTimeout(emit, Math.min(everyMs, 2000));
  first.unref();
  const t = setInterval(emit, everyMs);
  t.unref();
  return t;
}

/** Stop on SIGINT/SIGTERM within the deadline; resolves with the exit code. */
export function runUntilSignal(engine: { stop(): Promise<void> }, log: Logger, deadlineMs = 10_000, extraStop?: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
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
  });
}
