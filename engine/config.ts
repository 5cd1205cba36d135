/**
 * Engine configuration: one typed, validated, deep-frozen object.
 *
 * Sources, lowest precedence first: defaults → JSON config file → environment → overrides
 * (command-line flags). Validation collects every violation before throwing, and unknown
 * keys are refused in the file and among `AETHER_*` environment variables, so a typo such
 * as `AETHER_SIMULATON=1` is an error rather than silence.
 *
 * This is the only module that reads the process environment (`readEnv`). Everything else
 * receives a `Config`. docs/configuration.md documents every setting; a test checks that it
 * lists every entry of `configKeys`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { ConfigError, ErrorCode, type ConfigViolation } from './errors.js';

export const environments = ['development', 'staging', 'production'] as const;
export type Environment = (typeof environments)[number];

/** Kraken v2 accepts exactly these book depths; anything else is refused on subscribe. */
export const bookDepths = [10, 25, 100, 500, 1000] as const;
export type BookDepth = (typeof bookDepths)[number];

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export type SymbolSelection =
  | { readonly kind: 'list'; readonly symbols: readonly string[] }
  | { readonly kind: 'all-usd' };

export interface Config {
  readonly env: Environment;
  /** HTTP/WebSocket gateway port; 0 = any free port. */
  readonly port: number;
  /** Comma-separated nats:// or tls:// server URLs; null = NATS publishing off. */
  readonly natsUrl: string | null;
  /** Subject prefix ("" or dot-separated tokens) so test runs can isolate their subjects. */
  readonly natsNamespace: string;
  readonly databaseUrl: string | null;
  /** True when databaseUrl is set or libpq's PGHOST / PGDATABASE is (derived, not settable). */
  readonly databaseConfigured: boolean;
  readonly redisUrl: string | null;
  readonly symbols: SymbolSelection;
  readonly bookDepth: BookDepth;
  readonly workers: number;
  readonly shardIndex: number;
  readonly shardCount: number;
  readonly krakenUrl: string;
  readonly simulation: boolean;
  readonly simPort: number;
  readonly simSymbols: number;
  /** Book messages per second per simulated symbol. */
  readonly simRate: number;
  /** Maximum risk publications per second per instrument; 0 = publish every change. */
  readonly riskMaxRateHz: number;
  readonly quietAfterMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly mailboxCapacity: number;
  /** Kraken connection attempts allowed per rolling 10 minutes (Cloudflare bans at ~150). */
  readonly connectBudget: number;
  readonly logLevel: LogLevel;
  /** Interval of the periodic risk summary log line; 0 = off. */
  readonly logSummaryMs: number;
  /** JSON file with per-account and per-instrument limits (docs/risk-model.md); null = no limits. */
  readonly limitsFile: string | null;
  /** Shared secret that authenticates admin commands (halt, release, limits reload); null = admin off. */
  readonly adminToken: string | null;
  /** Volatility/covariance sampling interval (ms) and EWMA decay per sample. */
  readonly volIntervalMs: number;
  readonly volLambda: number;
  /** Rolling window of trade VWAP and signed flow, seconds. */
  readonly flowWindowSec: number;
  /** Quote notional of the clip whose cost to trade each risk record reports. */
  readonly clipNotional: number;
  /** Run the HTTP/WebSocket gateway on PORT (docs/streaming.md). */
  readonly gateway: boolean;
  /** Address the gateway binds. */
  readonly gatewayHost: string;
  /** SHA-256 digests (hex) of the tokens in AETHER_GATEWAY_TOKENS; the tokens themselves are not kept. */
  readonly gatewayTokens: readonly string[];
  /** File of gateway bearer tokens, one per line; null = none. */
  readonly gatewayTokensFile: string | null;
  /** Browser origins allowed besides the gateway's own, normalised to scheme://host[:port]. */
  readonly gatewayOrigins: readonly string[];
  readonly gatewayMaxConnections: number;
  readonly gatewayMaxConnectionsPerIp: number;
  /** Control messages per second per connection (token-bucket refill) and the bucket size. */
  readonly gatewayControlRate: number;
  readonly gatewayControlBurst: number;
  readonly gatewayIdleTimeoutSec: number;
  readonly gatewayMaxMessageBytes: number;
  /** Send-buffer bytes past which a client gets latest-value-only delivery, and past which it is closed. */
  readonly gatewayConflateBytes: number;
  readonly gatewayCloseBytes: number;
  /** In latest-value mode, each channel's newest value at most once per this interval. */
  readonly gatewayConflateIntervalMs: number;
  /** Levels per side in book.<SYMBOL> messages, and how often books are polled for changes. */
  readonly gatewayBookLevels: number;
  readonly gatewayBookIntervalMs: number;
  /** PostgreSQL schema that holds the engine's tables (docs/persistence.md). */
  readonly dbSchema: string;
  /** Prefix of every Redis key (so parallel runs do not see each other). */
  readonly redisPrefix: string;
  /** Period of the book, risk and account snapshots persisted and cached; 0 = off. */
  readonly snapshotIntervalMs: number;
  /** Levels per side kept in each persisted book snapshot. */
  readonly snapshotLevels: number;
  /** Run the database writer inside the engine process (false: a separate `aether-risk writer`). */
  readonly writerInProcess: boolean;
  /** Most records one writer batch (one COPY transaction) holds. */
  readonly writerBatchMax: number;
  /** Capacity of the in-process record queue used without NATS. */
  readonly writerQueueCapacity: number;
  /** How long JetStream waits for the writer's ack before redelivering, ms. */
  readonly writerAckWaitMs: number;
  /** Size and age limits of the JetStream RECORDS stream. */
  readonly recordsMaxBytes: number;
  readonly recordsMaxAgeHours: number;
  /** TimescaleDB policies (ignored on plain PostgreSQL). */
  readonly compressAfterDays: number;
  readonly retentionDays: number;
  /** Time to live of market-data keys in Redis, seconds. */
  readonly redisMarketTtlSec: number;
  /** Replicas of the JetStream streams the engine creates (FILLS, DEADLETTER, EVENTS, RECORDS). */
  readonly streamReplicas: number;
}

/** Keys that can be set; `databaseConfigured` is derived. */
export type SettingKey = Exclude<keyof Config, 'databaseConfigured'>;

export interface ConfigKeyInfo {
  readonly key: SettingKey;
  readonly env: string;
  /** The default as shown to people (docs, --help). */
  readonly default: string;
  readonly description: string;
  /** What a valid value looks like; violation messages read "must be <allowed>". */
  readonly allowed: string;
}

export interface LoadConfigInput {
  /** Defaults to the process environment (see readEnv). */
  readonly env?: NodeJS.ProcessEnv;
  /** JSON config file; takes precedence over AETHER_CONFIG. */
  readonly file?: string;
  /** Highest precedence (command-line flags). `undefined` values are ignored. */
  readonly overrides?: Partial<Record<keyof Config, unknown>>;
  /** How to name an override in violations, e.g. { bookDepth: '--depth' }. */
  readonly overrideNames?: Partial<Record<keyof Config, string>>;
}

/** The environment variable naming the JSON config file. */
export const CONFIG_FILE_ENV = 'AETHER_CONFIG';

// ---------------------------------------------------------------------------------------
// Parsers. Each accepts the environment's string form and the JSON file's native form.

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message?: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (message?: string): Parsed<never> => (message === undefined ? { ok: false } : { ok: false, message });

const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function toNumber(raw: unknown, integer: boolean): number | null {
  if (typeof raw === 'number') return Number.isFinite(raw) && (!integer || Number.isInteger(raw)) ? raw : null;
  if (typeof raw !== 'string') return null;
  const s = raw.trim();
  if (!(integer ? INT_RE : NUM_RE).test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

function intIn(min: number, max: number): (raw: unknown) => Parsed<number> {
  return (raw) => {
    const n = toNumber(raw, true);
    return n !== null && n >= min && n <= max ? ok(n) : bad();
  };
}

function oneOf<T extends string>(choices: readonly T[]): (raw: unknown) => Parsed<T> {
  return (raw) => {
    if (typeof raw !== 'string') return bad();
    const s = raw.trim().toLowerCase();
    const hit = choices.find((c) => c === s);
    return hit === undefined ? bad() : ok(hit);
  };
}

function parseDepth(raw: unknown): Parsed<BookDepth> {
  const n = toNumber(raw, true);
  const hit = bookDepths.find((d) => d === n);
  return hit === undefined ? bad() : ok(hit);
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

function parseBool(raw: unknown): Parsed<boolean> {
  if (typeof raw === 'boolean') return ok(raw);
  if (raw === 1 || raw === 0) return ok(raw === 1);
  if (typeof raw !== 'string') return bad();
  const s = raw.trim().toLowerCase();
  if (TRUE_WORDS.has(s)) return ok(true);
  if (FALSE_WORDS.has(s)) return ok(false);
  return bad();
}

function isUrlWith(s: string, protocols: readonly string[]): boolean {
  if (!URL.canParse(s)) return false;
  const u = new URL(s);
  return protocols.includes(u.protocol) && u.hostname !== '';
}

/** A nullable URL: null or "" means off. */
function optionalUrl(protocols: readonly string[]): (raw: unknown) => Parsed<string | null> {
  return (raw) => {
    if (raw === null) return ok(null);
    if (typeof raw !== 'string') return bad();
    const s = raw.trim();
    if (s === '') return ok(null);
    return isUrlWith(s, protocols) ? ok(s) : bad();
  };
}

function parseNatsUrl(raw: unknown): Parsed<string | null> {
  if (raw === null) return ok(null);
  let parts: string[];
  if (typeof raw === 'string') {
    if (raw.trim() === '') return ok(null);
    parts = raw.split(',').map((p) => p.trim());
  } else if (Array.isArray(raw) && raw.length > 0 && raw.every((p) => typeof p === 'string')) {
    parts = (raw as string[]).map((p) => p.trim());
  } else {
    return bad();
  }
  return parts.every((p) => isUrlWith(p, ['nats:', 'tls:'])) ? ok(parts.join(',')) : bad();
}

const NAMESPACE_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

function parseNamespace(raw: unknown): Parsed<string> {
  if (typeof raw !== 'string') return bad();
  const s = raw.trim();
  return s === '' || NAMESPACE_RE.test(s) ? ok(s) : bad();
}

const SYMBOL_RE = /^[A-Z0-9]+\/[A-Z0-9]+$/;
const ALL_USD = 'all-usd';

function parseSymbols(raw: unknown): Parsed<SymbolSelection> {
  let items: string[];
  if (typeof raw === 'string') {
    items = raw.split(',').map((s) => s.trim());
  } else if (Array.isArray(raw) && raw.every((s) => typeof s === 'string')) {
    items = (raw as string[]).map((s) => s.trim());
  } else {
    return bad();
  }
  if (items.length === 1 && items[0]?.toLowerCase() === ALL_USD) return ok({ kind: 'all-usd' });
  if (items.length === 0 || !items.every((s) => SYMBOL_RE.test(s))) return bad();
  const seen = new Set<string>();
  for (const s of items) {
    if (seen.has(s)) return bad(`lists ${s} more than once (got ${show(raw)})`);
    seen.add(s);
  }
  return ok({ kind: 'list', symbols: items });
}

const MIN_GATEWAY_TOKEN = 16;

/** Gateway tokens are hashed here, so the configuration never holds them in clear. */
function parseGatewayTokens(raw: unknown): Parsed<readonly string[]> {
  let items: string[];
  if (raw === null) return ok([]);
  if (typeof raw === 'string') items = raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim());
  else if (Array.isArray(raw) && raw.every((s) => typeof s === 'string')) items = (raw as string[]).map((s) => s.trim());
  else return bad();
  if (!items.every((t) => t.length >= MIN_GATEWAY_TOKEN && !/\s/.test(t))) return bad();
  return ok(items.map((t) => createHash('sha256').update(t, 'utf8').digest('hex')));
}

function parseOrigins(raw: unknown): Parsed<readonly string[]> {
  let items: string[];
  if (raw === null) return ok([]);
  if (typeof raw === 'string') items = raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim());
  else if (Array.isArray(raw) && raw.every((s) => typeof s === 'string')) items = (raw as string[]).map((s) => s.trim());
  else return bad();
  const out: string[] = [];
  for (const item of items) {
    if (!URL.canParse(item)) return bad();
    const u = new URL(item);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search !== '' || u.hash !== '' || u.username !== '' || /[/?#]./.test(item.slice(u.protocol.length + 2))) return bad();
    out.push(u.origin.toLowerCase());
  }
  return ok(out);
}

function numberIn(test: (n: number) => boolean): (raw: unknown) => Parsed<number> {
  return (raw) => {
    const n = toNumber(raw, false);
    return n !== null && test(n) ? ok(n) : bad();
  };
}

// ---------------------------------------------------------------------------------------
// The settings table: the single source for validation, docs and --help.

interface Setting<T> {
  readonly env: string;
  readonly description: string;
  readonly allowed: string;
  readonly defaultText: string;
  readonly defaultValue: () => T;
  readonly parse: (raw: unknown) => Parsed<T>;
}

type SettingTable = { readonly [K in SettingKey]: Setting<Config[K]> };

const MAX_WORKERS = 64;
const DAY_MS = 86_400_000;

const settings: SettingTable = {
  env: {
    env: 'AETHER_ENV',
    description: 'Deployment environment. Simulation is refused in production.',
    allowed: 'one of development, staging, production',
    defaultText: 'development',
    defaultValue: () => 'development',
    parse: oneOf(environments),
  },
  port: {
    env: 'PORT',
    description: 'Port of the HTTP/WebSocket gateway: /v1/stream, REST snapshots, /healthz, /readyz, /metrics and the dashboard (docs/streaming.md).',
    allowed: 'an integer from 0 to 65535 (0 = any free port)',
    defaultText: '8080',
    defaultValue: () => 8080,
    parse: intIn(0, 65535),
  },
  natsUrl: {
    env: 'NATS_URL',
    description: 'NATS servers that risk is published to. Unset or empty = NATS off.',
    allowed: 'a comma-separated list of nats:// or tls:// URLs',
    defaultText: '(unset: off)',
    defaultValue: () => null,
    parse: parseNatsUrl,
  },
  natsNamespace: {
    env: 'AETHER_NATS_NAMESPACE',
    description: 'Prefix for every NATS subject, so parallel runs (tests) do not see each other.',
    allowed: 'empty, or tokens of A-Z a-z 0-9 _ - separated by dots (e.g. ci.run42)',
    defaultText: '""',
    defaultValue: () => '',
    parse: parseNamespace,
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    description:
      'PostgreSQL/TimescaleDB URL: trades, fills, positions, events, feed gaps and snapshots are written there (docs/persistence.md). Unset = persistence off.',
    allowed: 'a postgres:// or postgresql:// URL',
    defaultText: '(unset: off)',
    defaultValue: () => null,
    parse: optionalUrl(['postgres:', 'postgresql:']),
  },
  redisUrl: {
    env: 'REDIS_URL',
    description: 'Redis URL for the latest state per instrument and account (a read cache and the warm-restart cache; docs/persistence.md). Unset or empty = off.',
    allowed: 'a redis:// or rediss:// URL',
    defaultText: '(unset: off)',
    defaultValue: () => null,
    parse: optionalUrl(['redis:', 'rediss:']),
  },
  symbols: {
    env: 'AETHER_SYMBOLS',
    description: 'Instruments to follow; all-usd = every online USD spot pair.',
    allowed: 'a comma-separated list of BASE/QUOTE pairs in uppercase letters/digits (e.g. BTC/USD,ETH/USD) or all-usd',
    defaultText: 'BTC/USD,ETH/USD',
    defaultValue: () => ({ kind: 'list', symbols: ['BTC/USD', 'ETH/USD'] }),
    parse: parseSymbols,
  },
  bookDepth: {
    env: 'AETHER_BOOK_DEPTH',
    description: 'Order book depth subscribed from Kraken per side.',
    allowed: `one of ${bookDepths.join(', ')}`,
    defaultText: '25',
    defaultValue: () => 25,
    parse: parseDepth,
  },
  workers: {
    env: 'AETHER_WORKERS',
    description: 'Worker threads hosting instrument actors.',
    allowed: `an integer from 1 to ${MAX_WORKERS}`,
    defaultText: 'max(1, CPUs - 1)',
    defaultValue: () => Math.max(1, Math.min(MAX_WORKERS, availableParallelism() - 1)),
    parse: intIn(1, MAX_WORKERS),
  },
  shardIndex: {
    env: 'AETHER_SHARD_INDEX',
    description: 'This process\'s shard; it runs only the instruments the shard map assigns to this index.',
    allowed: 'an integer from 0 to shardCount - 1',
    defaultText: '0',
    defaultValue: () => 0,
    parse: intIn(0, 1023),
  },
  shardCount: {
    env: 'AETHER_SHARD_COUNT',
    description: 'Number of engine processes the symbols are split across.',
    allowed: 'an integer from 1 to 1024',
    defaultText: '1',
    defaultValue: () => 1,
    parse: intIn(1, 1024),
  },
  krakenUrl: {
    env: 'AETHER_KRAKEN_URL',
    description: 'Kraken WebSocket v2 endpoint (public market data).',
    allowed: 'a ws:// or wss:// URL',
    defaultText: 'wss://ws.kraken.com/v2',
    defaultValue: () => 'wss://ws.kraken.com/v2',
    parse: (raw) => {
      if (typeof raw !== 'string') return bad();
      const s = raw.trim();
      return isUrlWith(s, ['ws:', 'wss:']) ? ok(s) : bad();
    },
  },
  simulation: {
    env: 'AETHER_SIMULATION',
    description: 'Use the in-process simulated exchange instead of Kraken. Refused when env is production.',
    allowed: 'a boolean: true/false, 1/0, yes/no or on/off (any case)',
    defaultText: 'false',
    defaultValue: () => false,
    parse: parseBool,
  },
  simPort: {
    env: 'AETHER_SIM_PORT',
    description: 'Port of the simulated exchange\'s WebSocket server.',
    allowed: 'an integer from 0 to 65535 (0 = any free port)',
    defaultText: '0',
    defaultValue: () => 0,
    parse: intIn(0, 65535),
  },
  simSymbols: {
    env: 'AETHER_SIM_SYMBOLS',
    description: 'Number of symbols the simulated exchange lists.',
    allowed: 'an integer from 1 to 1000',
    defaultText: '8',
    defaultValue: () => 8,
    parse: intIn(1, 1000),
  },
  simRate: {
    env: 'AETHER_SIM_RATE',
    description: 'Book messages per second per simulated symbol.',
    allowed: 'a number greater than 0 and at most 100000',
    defaultText: '20',
    defaultValue: () => 20,
    parse: numberIn((n) => n > 0 && n <= 100_000),
  },
  riskMaxRateHz: {
    env: 'AETHER_RISK_MAX_RATE_HZ',
    description: 'Maximum risk publications per second per instrument (conflated to the latest); 0 = publish every change.',
    allowed: 'a number of at least 0 (0 = no conflation)',
    defaultText: '0',
    defaultValue: () => 0,
    parse: numberIn((n) => n >= 0),
  },
  quietAfterMs: {
    env: 'AETHER_QUIET_AFTER_MS',
    description: 'An instrument with no book update for this long is reported quiet.',
    allowed: `an integer from 1 to ${DAY_MS} (milliseconds)`,
    defaultText: '10000',
    defaultValue: () => 10_000,
    parse: intIn(1, DAY_MS),
  },
  heartbeatTimeoutMs: {
    env: 'AETHER_HEARTBEAT_TIMEOUT_MS',
    description: 'A Kraken connection silent (no heartbeat or data) for this long is dropped and reconnected.',
    allowed: 'an integer from 1000 to 600000 (milliseconds)',
    defaultText: '3000',
    defaultValue: () => 3000,
    parse: intIn(1000, 600_000),
  },
  mailboxCapacity: {
    env: 'AETHER_MAILBOX_CAPACITY',
    description: 'Bound of each worker\'s control mailbox (supervisor → worker); when full, messages are refused and counted. Market data is not queued: it is handled in the socket callback.',
    allowed: 'an integer from 16 to 1000000',
    defaultText: '4096',
    defaultValue: () => 4096,
    parse: intIn(16, 1_000_000),
  },
  connectBudget: {
    env: 'AETHER_CONNECT_BUDGET',
    description:
      'Kraken connection attempts allowed per rolling 10 minutes, shared by every worker and the instrument discovery (Kraken bans the IP for 10 minutes past about 150).',
    allowed: 'an integer from 1 to 100',
    defaultText: '100',
    defaultValue: () => 100,
    parse: intIn(1, 100),
  },
  logLevel: {
    env: 'AETHER_LOG_LEVEL',
    description: 'Minimum log level (pino).',
    allowed: `one of ${logLevels.join(', ')}`,
    defaultText: 'info',
    defaultValue: () => 'info',
    parse: oneOf(logLevels),
  },
  logSummaryMs: {
    env: 'AETHER_LOG_SUMMARY_MS',
    description: 'Interval of the periodic risk summary log line; 0 = off.',
    allowed: `an integer from 0 to ${DAY_MS} (milliseconds; 0 = off)`,
    defaultText: '5000',
    defaultValue: () => 5000,
    parse: intIn(0, DAY_MS),
  },
  limitsFile: {
    env: 'AETHER_LIMITS_FILE',
    description: 'JSON file with per-account and per-instrument risk limits (see docs/risk-model.md). Unset = no limits.',
    allowed: 'a file path',
    defaultText: '(unset: no limits)',
    defaultValue: () => null,
    parse: (raw) => (raw === null || raw === '' ? ok(null) : typeof raw === 'string' ? ok(raw) : bad()),
  },
  adminToken: {
    env: 'AETHER_ADMIN_TOKEN',
    description: 'Shared secret that admin commands (halt, release, limits reload) must carry. Unset = admin commands refused. Never logged.',
    allowed: 'a string of at least 16 characters',
    defaultText: '(unset: admin off)',
    defaultValue: () => null,
    parse: (raw) => (raw === null || raw === '' ? ok(null) : typeof raw === 'string' && raw.length >= 16 ? ok(raw) : bad()),
  },
  volIntervalMs: {
    env: 'AETHER_VOL_INTERVAL_MS',
    description: 'Clock on which mids are sampled for volatility and the return covariance behind VaR.',
    allowed: 'an integer from 100 to 3600000 (milliseconds)',
    defaultText: '1000',
    defaultValue: () => 1000,
    parse: intIn(100, 3_600_000),
  },
  volLambda: {
    env: 'AETHER_VOL_LAMBDA',
    description: 'EWMA decay per sample for volatility and covariance (0.999 at 1 s ≈ 11.5 min half-life).',
    allowed: 'a number strictly between 0 and 1',
    defaultText: '0.999',
    defaultValue: () => 0.999,
    parse: numberIn((n) => n > 0 && n < 1),
  },
  flowWindowSec: {
    env: 'AETHER_FLOW_WINDOW_SEC',
    description: 'Rolling window of the trade VWAP and signed trade flow in each risk record.',
    allowed: 'an integer from 1 to 86400 (seconds)',
    defaultText: '60',
    defaultValue: () => 60,
    parse: intIn(1, 86_400),
  },
  clipNotional: {
    env: 'AETHER_CLIP_NOTIONAL',
    description: 'Quote notional of the clip whose cost to trade (buy and sell, walking the live book) each risk record reports.',
    allowed: 'a number greater than 0',
    defaultText: '100000',
    defaultValue: () => 100_000,
    parse: numberIn((n) => n > 0),
  },
  gateway: {
    env: 'AETHER_GATEWAY',
    description: 'Run the HTTP/WebSocket gateway on PORT: /v1/stream, REST snapshots, /healthz, /readyz, /metrics and the dashboard (docs/streaming.md).',
    allowed: 'a boolean: true/false, 1/0, yes/no or on/off (any case)',
    defaultText: 'true',
    defaultValue: () => true,
    parse: parseBool,
  },
  gatewayHost: {
    env: 'AETHER_GATEWAY_HOST',
    description: 'Address the gateway listens on.',
    allowed: 'an IPv4 or IPv6 address or a host name',
    defaultText: '0.0.0.0',
    defaultValue: () => '0.0.0.0',
    parse: (raw) => (typeof raw === 'string' && /^[A-Za-z0-9.:-]{1,253}$/.test(raw.trim()) ? ok(raw.trim()) : bad()),
  },
  gatewayTokens: {
    env: 'AETHER_GATEWAY_TOKENS',
    description: 'Bearer tokens accepted by the gateway, comma-separated. Only their SHA-256 digests are kept in memory; never logged. Required in production unless AETHER_GATEWAY_TOKENS_FILE is set.',
    allowed: `a comma-separated list of tokens of at least ${MIN_GATEWAY_TOKEN} characters without spaces or commas`,
    defaultText: '(unset: no tokens)',
    defaultValue: () => [],
    parse: parseGatewayTokens,
  },
  gatewayTokensFile: {
    env: 'AETHER_GATEWAY_TOKENS_FILE',
    description: 'File of gateway bearer tokens, one per line (# comments); re-read when it changes, and connections whose token was removed are closed (4401).',
    allowed: 'a file path',
    defaultText: '(unset)',
    defaultValue: () => null,
    parse: (raw) => (raw === null || raw === '' ? ok(null) : typeof raw === 'string' ? ok(raw.trim()) : bad()),
  },
  gatewayOrigins: {
    env: 'AETHER_GATEWAY_ORIGINS',
    description: 'Browser origins allowed to open /v1/stream besides the gateway\'s own (the served dashboard). Requests without an Origin header (non-browser clients) are not affected.',
    allowed: 'a comma-separated list of origins such as https://risk.example.com (scheme, host and optional port; no path, no wildcard)',
    defaultText: '(unset: same origin only)',
    defaultValue: () => [],
    parse: parseOrigins,
  },
  gatewayMaxConnections: {
    env: 'AETHER_GATEWAY_MAX_CONNECTIONS',
    description: 'Most WebSocket connections the gateway holds; more are refused with HTTP 503.',
    allowed: 'an integer from 1 to 1000000',
    defaultText: '10000',
    defaultValue: () => 10_000,
    parse: intIn(1, 1_000_000),
  },
  gatewayMaxConnectionsPerIp: {
    env: 'AETHER_GATEWAY_MAX_CONNECTIONS_PER_IP',
    description: 'Most WebSocket connections from one client address; more are refused with HTTP 429.',
    allowed: 'an integer from 1 to 1000000',
    defaultText: '20',
    defaultValue: () => 20,
    parse: intIn(1, 1_000_000),
  },
  gatewayControlRate: {
    env: 'AETHER_GATEWAY_CONTROL_RATE',
    description: 'Control messages (subscribe, unsubscribe, ping) per second per connection, sustained (token-bucket refill).',
    allowed: 'a number greater than 0 and at most 1000',
    defaultText: '2',
    defaultValue: () => 2,
    parse: numberIn((n) => n > 0 && n <= 1000),
  },
  gatewayControlBurst: {
    env: 'AETHER_GATEWAY_CONTROL_BURST',
    description: 'Control messages a connection may send at once (bucket size). Past it messages are refused (RATE_LIMITED); one more burst and the connection is closed (4008).',
    allowed: 'an integer from 1 to 10000',
    defaultText: '20',
    defaultValue: () => 20,
    parse: intIn(1, 10_000),
  },
  gatewayIdleTimeoutSec: {
    env: 'AETHER_GATEWAY_IDLE_TIMEOUT_SEC',
    description: 'A connection from which nothing (message or pong) arrives for this long is closed (4010); the gateway pings at half of it.',
    allowed: 'an integer from 1 to 900 (seconds)',
    defaultText: '60',
    defaultValue: () => 60,
    parse: intIn(1, 900),
  },
  gatewayMaxMessageBytes: {
    env: 'AETHER_GATEWAY_MAX_MESSAGE_BYTES',
    description: 'Largest inbound WebSocket message; a larger one closes the connection (1009).',
    allowed: 'an integer from 256 to 65536 (bytes)',
    defaultText: '4096',
    defaultValue: () => 4096,
    parse: intIn(256, 65_536),
  },
  gatewayConflateBytes: {
    env: 'AETHER_GATEWAY_CONFLATE_BYTES',
    description: 'A client whose send buffer passes this many bytes gets latest-value-only delivery until it drains below half of it.',
    allowed: 'an integer from 1024 to 1073741824 (bytes)',
    defaultText: '65536',
    defaultValue: () => 64 * 1024,
    parse: intIn(1024, 1024 ** 3),
  },
  gatewayCloseBytes: {
    env: 'AETHER_GATEWAY_CLOSE_BYTES',
    description: 'A client whose send buffer passes this many bytes is closed as a slow consumer (4001).',
    allowed: 'an integer from 2048 to 2147483647 (bytes), greater than AETHER_GATEWAY_CONFLATE_BYTES',
    defaultText: '262144',
    defaultValue: () => 256 * 1024,
    parse: intIn(2048, 2 ** 31 - 1),
  },
  gatewayConflateIntervalMs: {
    env: 'AETHER_GATEWAY_CONFLATE_INTERVAL_MS',
    description: 'In latest-value mode, each channel\'s newest value is sent at most once per this interval (and at once when the buffer drains).',
    allowed: 'an integer from 10 to 60000 (milliseconds)',
    defaultText: '1000',
    defaultValue: () => 1000,
    parse: intIn(10, 60_000),
  },
  gatewayBookLevels: {
    env: 'AETHER_GATEWAY_BOOK_LEVELS',
    description: 'Levels per side in book.<SYMBOL> messages (at most the subscribed depth).',
    allowed: 'an integer from 1 to 50',
    defaultText: '10',
    defaultValue: () => 10,
    parse: intIn(1, 50),
  },
  gatewayBookIntervalMs: {
    env: 'AETHER_GATEWAY_BOOK_INTERVAL_MS',
    description: 'How often the gateway reads subscribed books from the market board; a changed book is sent once per interval.',
    allowed: 'an integer from 10 to 10000 (milliseconds)',
    defaultText: '100',
    defaultValue: () => 100,
    parse: intIn(10, 10_000),
  },
  dbSchema: {
    env: 'AETHER_DB_SCHEMA',
    description: 'PostgreSQL schema holding the engine tables; created by the migrations.',
    allowed: 'a lowercase SQL identifier (a-z, 0-9, _; at most 63 characters, not starting with a digit)',
    defaultText: 'aether',
    defaultValue: () => 'aether',
    parse: (raw) => (typeof raw === 'string' && /^[a-z_][a-z0-9_]{0,62}$/.test(raw.trim()) ? ok(raw.trim()) : bad()),
  },
  redisPrefix: {
    env: 'AETHER_REDIS_PREFIX',
    description: 'Prefix of every Redis key the engine writes (keys are <prefix>aether:v1:…).',
    allowed: 'at most 64 of A-Z a-z 0-9 _ . : -',
    defaultText: '""',
    defaultValue: () => '',
    parse: (raw) => (typeof raw === 'string' && /^[A-Za-z0-9_.:-]{0,64}$/.test(raw.trim()) ? ok(raw.trim()) : bad()),
  },
  snapshotIntervalMs: {
    env: 'AETHER_SNAPSHOT_INTERVAL_MS',
    description: 'Period of the book, instrument-risk and account-risk snapshots written to PostgreSQL and Redis; 0 = no periodic snapshots.',
    allowed: '0, or an integer from 100 to 3600000 (milliseconds)',
    defaultText: '1000',
    defaultValue: () => 1000,
    parse: (raw) => {
      const n = toNumber(raw, true);
      return n !== null && (n === 0 || (n >= 100 && n <= 3_600_000)) ? ok(n) : bad();
    },
  },
  snapshotLevels: {
    env: 'AETHER_SNAPSHOT_LEVELS',
    description: 'Levels per side in each persisted book snapshot.',
    allowed: 'an integer from 1 to 50',
    defaultText: '10',
    defaultValue: () => 10,
    parse: intIn(1, 50),
  },
  writerInProcess: {
    env: 'AETHER_WRITER_IN_PROCESS',
    description: 'With NATS and a database configured: also run the database writer inside the engine process. Set false when `aether-risk writer` runs as its own deployment.',
    allowed: 'true or false',
    defaultText: 'true',
    defaultValue: () => true,
    parse: parseBool,
  },
  writerBatchMax: {
    env: 'AETHER_WRITER_BATCH',
    description: 'Most records per writer batch (one COPY transaction).',
    allowed: 'an integer from 1 to 100000',
    defaultText: '5000',
    defaultValue: () => 5000,
    parse: intIn(1, 100_000),
  },
  writerQueueCapacity: {
    env: 'AETHER_WRITER_QUEUE',
    description: 'Capacity, in records, of the record queue: the in-process queue to the writer without NATS, or the queue in front of JetStream with it (half full: snapshots are thinned; full: records are dropped and counted).',
    allowed: 'an integer from 100 to 10000000',
    defaultText: '200000',
    defaultValue: () => 200_000,
    parse: intIn(100, 10_000_000),
  },
  writerAckWaitMs: {
    env: 'AETHER_WRITER_ACK_WAIT_MS',
    description: 'How long JetStream waits for the writer to acknowledge a record before redelivering it (a writer that died mid-batch).',
    allowed: 'an integer from 1000 to 600000 (milliseconds)',
    defaultText: '30000',
    defaultValue: () => 30_000,
    parse: intIn(1000, 600_000),
  },
  recordsMaxBytes: {
    env: 'AETHER_RECORDS_MAX_BYTES',
    description: 'Size limit of the JetStream RECORDS stream (a work queue: only records the database has not taken yet count). When full, new records are refused (counted), never old ones discarded.',
    allowed: 'an integer from 1048576 to 1099511627776 (bytes)',
    defaultText: '4294967296',
    defaultValue: () => 4 * 1024 ** 3,
    parse: intIn(1024 * 1024, 1024 ** 4),
  },
  recordsMaxAgeHours: {
    env: 'AETHER_RECORDS_MAX_AGE_HOURS',
    description: 'Age limit of the JetStream RECORDS stream: how long records wait for a database outage to end.',
    allowed: 'an integer from 1 to 8760 (hours)',
    defaultText: '168',
    defaultValue: () => 168,
    parse: intIn(1, 8760),
  },
  compressAfterDays: {
    env: 'AETHER_COMPRESS_AFTER_DAYS',
    description: 'TimescaleDB: compress hypertable chunks older than this (ignored on plain PostgreSQL). Must be longer than AETHER_RECORDS_MAX_AGE_HOURS, so records stored late after an outage do not land in compressed chunks.',
    allowed: 'an integer from 1 to 3650 (days)',
    defaultText: '14',
    defaultValue: () => 14,
    parse: intIn(1, 3650),
  },
  retentionDays: {
    env: 'AETHER_RETENTION_DAYS',
    description: 'TimescaleDB: drop hypertable chunks older than this (trades, snapshots); fills, positions and events are kept.',
    allowed: 'an integer from 1 to 36500 (days)',
    defaultText: '90',
    defaultValue: () => 90,
    parse: intIn(1, 36_500),
  },
  redisMarketTtlSec: {
    env: 'AETHER_REDIS_TTL_SEC',
    description: 'Time to live of the market-data keys (top of book, instrument risk) in Redis.',
    allowed: 'an integer from 1 to 86400 (seconds)',
    defaultText: '300',
    defaultValue: () => 300,
    parse: intIn(1, 86_400),
  },
  streamReplicas: {
    env: 'AETHER_STREAM_REPLICAS',
    description: 'Replicas of the JetStream streams the engine creates (FILLS, DEADLETTER, EVENTS, RECORDS). Use 3 on a clustered NATS in production: a single replica can lose acknowledged messages on power loss.',
    allowed: 'an integer from 1 to 5',
    defaultText: '1',
    defaultValue: () => 1,
    parse: intIn(1, 5),
  },
};

const settingKeys = Object.keys(settings) as SettingKey[];

/** Every setting, in documentation order: used by docs/configuration.md (tested) and --help. */
export const configKeys: readonly ConfigKeyInfo[] = Object.freeze(
  settingKeys.map((key) => {
    const s = settings[key];
    return Object.freeze({ key, env: s.env, default: s.defaultText, description: s.description, allowed: s.allowed });
  }),
);

const knownAetherEnv = new Set<string>([CONFIG_FILE_ENV, ...settingKeys.map((k) => settings[k].env)]);

// ---------------------------------------------------------------------------------------

/** The only read of the process environment in the engine. */
export function readEnv(): NodeJS.ProcessEnv {
  return Object.freeze({ ...process.env });
}

type Layer = { readonly label: (key: SettingKey) => string; readonly values: Readonly<Record<string, unknown>> };

export function loadConfig(input: LoadConfigInput = {}): Config {
  const env = input.env ?? readEnv();
  const violations: ConfigViolation[] = [];
  const violate = (key: string, message: string, code: ConfigViolation['code'] = ErrorCode.E_CONFIG): void => {
    violations.push({ key, message, code });
  };

  for (const name of Object.keys(env).sort()) {
    if (name.startsWith('AETHER_') && !knownAetherEnv.has(name)) {
      violate(name, `is not a known setting${suggest(name, [...knownAetherEnv])}; see docs/configuration.md`);
    }
  }

  const layers: Layer[] = [];

  const filePath = input.file ?? nonEmpty(env[CONFIG_FILE_ENV]);
  if (filePath !== undefined) {
    const path = resolve(filePath);
    const fileKey = input.file !== undefined ? 'config file' : CONFIG_FILE_ENV;
    const values = readConfigFile(path, fileKey, violate);
    if (values !== null) {
      for (const key of Object.keys(values)) {
        if (!(settingKeys as string[]).includes(key)) {
          violate(`${key} (in ${path})`, `is not a known setting${suggest(key, settingKeys)}; see docs/configuration.md`);
        }
      }
      layers.push({ label: (key) => `${key} (in ${path})`, values });
    }
  }

  const envValues: Record<string, unknown> = {};
  for (const key of settingKeys) envValues[key] = env[settings[key].env];
  layers.push({ label: (key) => settings[key].env, values: envValues });

  const overrides = (input.overrides ?? {}) as Record<string, unknown>;
  const overrideNames = (input.overrideNames ?? {}) as Record<string, string | undefined>;
  for (const key of Object.keys(overrides)) {
    if (overrides[key] === undefined) continue;
    if (key === 'databaseConfigured') {
      violate(overrideNames[key] ?? key, 'is derived from DATABASE_URL, PGHOST and PGDATABASE and cannot be set');
    } else if (!(settingKeys as string[]).includes(key)) {
      violate(overrideNames[key] ?? key, 'is not a known setting');
    }
  }
  layers.push({ label: (key) => overrideNames[key] ?? key, values: overrides });

  const values: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  const valid: Record<string, boolean> = {};
  for (const key of settingKeys) {
    const setting: Setting<unknown> = settings[key];
    values[key] = setting.defaultValue();
    origin[key] = setting.env;
    valid[key] = true;
    for (const layer of layers) {
      if (!Object.hasOwn(layer.values, key)) continue;
      const raw = layer.values[key];
      if (raw === undefined) continue;
      const parsed = setting.parse(raw);
      const label = layer.label(key);
      if (parsed.ok) {
        values[key] = parsed.value;
        origin[key] = label;
      } else {
        valid[key] = false;
        // Secrets are never echoed back, not even in an error.
        violate(label, parsed.message ?? `must be ${setting.allowed}${key === 'adminToken' || key === 'gatewayTokens' ? '' : ` (got ${show(raw)})`}`);
      }
    }
  }

  // Cross-field rules, only between values that are themselves valid.
  if (valid['shardIndex'] && valid['shardCount'] && (values['shardIndex'] as number) >= (values['shardCount'] as number)) {
    violate(
      origin['shardIndex'] ?? 'shardIndex',
      `must be less than the shard count ${String(values['shardCount'])} from ${origin['shardCount'] ?? 'shardCount'} (got ${String(values['shardIndex'])})`,
    );
  }
  if (valid['gatewayConflateBytes'] && valid['gatewayCloseBytes'] && (values['gatewayCloseBytes'] as number) <= (values['gatewayConflateBytes'] as number)) {
    violate(
      origin['gatewayCloseBytes'] ?? 'gatewayCloseBytes',
      `must be greater than the conflation threshold ${String(values['gatewayConflateBytes'])} from ${origin['gatewayConflateBytes'] ?? 'gatewayConflateBytes'} (got ${String(values['gatewayCloseBytes'])})`,
    );
  }
  if (valid['simulation'] && valid['env'] && values['simulation'] === true && values['env'] === 'production') {
    violate(
      origin['simulation'] ?? 'simulation',
      'simulation mode cannot be enabled when AETHER_ENV=production',
      ErrorCode.E_SIM_IN_PRODUCTION,
    );
  }

  const databaseConfigured =
    values['databaseUrl'] !== null || nonEmpty(env['PGHOST']) !== undefined || nonEmpty(env['PGDATABASE']) !== undefined;
  if (valid['compressAfterDays'] && valid['recordsMaxAgeHours'] && (values['compressAfterDays'] as number) * 24 <= (values['recordsMaxAgeHours'] as number)) {
    violate(
      origin['compressAfterDays'] ?? 'AETHER_COMPRESS_AFTER_DAYS',
      `must be longer than the RECORDS stream's age limit ${String(values['recordsMaxAgeHours'])} h from ${origin['recordsMaxAgeHours'] ?? 'AETHER_RECORDS_MAX_AGE_HOURS'} (records may be stored that late)`,
    );
  }
  // Without NATS the writer sits behind an in-process queue that drops records in a long
  // outage: fine for development, never for production.
  if (valid['env'] && valid['databaseUrl'] && valid['natsUrl'] && values['env'] === 'production' && values['databaseUrl'] !== null && values['natsUrl'] === null) {
    violate(
      origin['databaseUrl'] ?? 'DATABASE_URL',
      'requires NATS_URL when AETHER_ENV=production (records reach the database through JetStream; the in-process queue is for development)',
    );
  }

  if (violations.length > 0) throw new ConfigError(violations);

  const config: Record<string, unknown> = {};
  for (const key of settingKeys) {
    config[key] = values[key];
    if (key === 'databaseUrl') config['databaseConfigured'] = databaseConfigured;
  }
  return deepFreeze(config as unknown as Config);
}

function readConfigFile(
  path: string,
  key: string,
  violate: (key: string, message: string) => void,
): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    violate(key, `cannot read ${path}: ${(err as Error).message}`);
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    violate(key, `${path} is not valid JSON: ${(err as Error).message}`);
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    violate(key, `${path} must contain a JSON object of settings (got ${show(parsed)})`);
    return null;
  }
  return parsed as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------

const URL_USERINFO_RE = /^(\s*[a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i;
const URL_SECRET_PARAM_RE = /([?&](?:password|sslpassword|pass|token|auth_token|secret)=)[^&#]*/gi;

/** Replaces URL user info and secret query parameters by `***`; handles comma-separated lists. */
export function redactUrlCredentials(value: string): string {
  return value
    .split(',')
    .map((part) => part.replace(URL_USERINFO_RE, '$1***@').replace(URL_SECRET_PARAM_RE, '$1***'))
    .join(',');
}

/** A copy of the config that is safe to log: URL credentials and the admin token replaced by `***`. */
export function redactedConfig(config: Config): Config {
  const redact = (u: string | null): string | null => (u === null ? null : redactUrlCredentials(u));
  return deepFreeze({
    ...config,
    natsUrl: redact(config.natsUrl),
    databaseUrl: redact(config.databaseUrl),
    redisUrl: redact(config.redisUrl),
    krakenUrl: redactUrlCredentials(config.krakenUrl),
    adminToken: config.adminToken === null ? null : '***',
    gatewayTokens: config.gatewayTokens.map(() => '***'),
  });
}

/** The individual server URLs of `config.natsUrl` (empty when NATS is off). */
export function natsServers(config: Pick<Config, 'natsUrl'>): string[] {
  return config.natsUrl === null ? [] : config.natsUrl.split(',');
}

// ---------------------------------------------------------------------------------------

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

function show(raw: unknown): string {
  const s = typeof raw === 'string' ? JSON.stringify(redactUrlCredentials(raw)) : (JSON.stringify(raw) ?? String(raw));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function suggest(name: string, candidates: readonly string[]): string {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= 3 ? ` (did you mean ${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
