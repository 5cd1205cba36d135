import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { configKeys, loadConfig, natsServers, redactedConfig, type Config } from '../engine/config.js';
import { ConfigError, ErrorCode } from '../engine/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'aether-config-'));
let fileSeq = 0;
function writeFile(content: unknown): string {
  const path = join(dir, `config-${++fileSeq}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** Runs loadConfig expecting a ConfigError and returns it. */
function refused(input: Parameters<typeof loadConfig>[0]): ConfigError {
  try {
    loadConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected loadConfig to refuse ${JSON.stringify(input)}`);
}

t.test('config - defaults with an empty environment', async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.env, 'development');
  t.equal(c.port, 8080);
  t.equal(c.natsUrl, null);
  t.equal(c.natsNamespace, '');
  t.equal(c.databaseUrl, null);
  t.equal(c.databaseConfigured, false);
  t.equal(c.redisUrl, null);
  t.same(c.symbols, { kind: 'list', symbols: ['BTC/USD', 'ETH/USD'] });
  t.equal(c.bookDepth, 25);
  t.equal(c.workers, Math.max(1, Math.min(64, availableParallelism() - 1)));
  t.equal(c.shardIndex, 0);
  t.equal(c.shardCount, 1);
  t.equal(c.krakenUrl, 'wss://ws.kraken.com/v2');
  t.equal(c.simulation, false);
  t.equal(c.simPort, 0);
  t.equal(c.simSymbols, 8);
  t.equal(c.simRate, 20);
  t.equal(c.riskMaxRateHz, 0);
  t.equal(c.quietAfterMs, 10_000);
  t.equal(c.heartbeatTimeoutMs, 3000);
  t.equal(c.mailboxCapacity, 4096);
  t.equal(c.connectBudget, 100);
  t.equal(c.logLevel, 'info');
  t.equal(c.logSummaryMs, 5000);
});

t.test('config - parses every environment variable into its typed field', async (t) => {
  const c = loadConfig({
    env: {
      AETHER_ENV: 'Staging',
      PORT: '0',
      NATS_URL: 'nats://a:4222, tls://b:4443',
      AETHER_NATS_NAMESPACE: 'ci.run-42_x',
      DATABASE_URL: 'postgres://u:p@db:5432/aether',
      REDIS_URL: 'rediss://cache:6380',
      AETHER_SYMBOLS: 'SOL/USD, 1INCH/EUR',
      AETHER_BOOK_DEPTH: '1000',
      AETHER_WORKERS: '7',
      AETHER_SHARD_INDEX: '2',
      AETHER_SHARD_COUNT: '3',
      AETHER_KRAKEN_URL: 'ws://127.0.0.1:9999/v2',
      AETHER_SIMULATION: 'on',
      AETHER_SIM_PORT: '4567',
      AETHER_SIM_SYMBOLS: '1000',
      AETHER_SIM_RATE: '0.5',
      AETHER_RISK_MAX_RATE_HZ: '2.5',
      AETHER_QUIET_AFTER_MS: '500',
      AETHER_HEARTBEAT_TIMEOUT_MS: '1000',
      AETHER_MAILBOX_CAPACITY: '16',
      AETHER_CONNECT_BUDGET: '100',
      AETHER_LOG_LEVEL: 'DEBUG',
      AETHER_LOG_SUMMARY_MS: '0',
      AETHER_LIMITS_FILE: '/etc/aether/limits.json',
      AETHER_ADMIN_TOKEN: 'a-secret-of-32-characters-long!!',
      AETHER_VOL_INTERVAL_MS: '250',
      AETHER_VOL_LAMBDA: '0.97',
      AETHER_DB_SCHEMA: 'risk_ci',
      AETHER_REDIS_PREFIX: 'ci42:',
      AETHER_SNAPSHOT_INTERVAL_MS: '0',
      AETHER_SNAPSHOT_LEVELS: '25',
      AETHER_WRITER_IN_PROCESS: 'false',
      AETHER_WRITER_BATCH: '1000',
      AETHER_WRITER_QUEUE: '5000',
      AETHER_WRITER_ACK_WAIT_MS: '5000',
      AETHER_RECORDS_MAX_BYTES: '1048576',
      AETHER_RECORDS_MAX_AGE_HOURS: '24',
      AETHER_COMPRESS_AFTER_DAYS: '2',
      AETHER_RETENTION_DAYS: '30',
      AETHER_REDIS_TTL_SEC: '60',
      AETHER_STREAM_REPLICAS: '3',
      AETHER_GATEWAY: 'off',
      AETHER_GATEWAY_HOST: '127.0.0.1',
      AETHER_GATEWAY_TOKENS: 'token-one-0123456789, token-two-0123456789',
      AETHER_GATEWAY_TOKENS_FILE: '/run/secrets/gateway-tokens',
      AETHER_GATEWAY_ORIGINS: 'https://Risk.Example.com, http://localhost:3000',
      AETHER_GATEWAY_MAX_CONNECTIONS: '500',
      AETHER_GATEWAY_MAX_CONNECTIONS_PER_IP: '5',
      AETHER_GATEWAY_CONTROL_RATE: '0.5',
      AETHER_GATEWAY_CONTROL_BURST: '4',
      AETHER_GATEWAY_IDLE_TIMEOUT_SEC: '30',
      AETHER_GATEWAY_MAX_MESSAGE_BYTES: '1024',
      AETHER_GATEWAY_CONFLATE_BYTES: '2048',
      AETHER_GATEWAY_CLOSE_BYTES: '8192',
      AETHER_GATEWAY_CONFLATE_INTERVAL_MS: '250',
      AETHER_GATEWAY_BOOK_LEVELS: '25',
      AETHER_GATEWAY_BOOK_INTERVAL_MS: '50',
    },
  });
  const expected: Omit<Config, 'symbols'> = {
    env: 'staging',
    port: 0,
    natsUrl: 'nats://a:4222,tls://b:4443',
    natsNamespace: 'ci.run-42_x',
    databaseUrl: 'postgres://u:p@db:5432/aether',
    databaseConfigured: true,
    redisUrl: 'rediss://cache:6380',
    bookDepth: 1000,
    workers: 7,
    shardIndex: 2,
    shardCount: 3,
    krakenUrl: 'ws://127.0.0.1:9999/v2',
    simulation: true,
    simPort: 4567,
    simSymbols: 1000,
    simRate: 0.5,
    riskMaxRateHz: 2.5,
    quietAfterMs: 500,
    heartbeatTimeoutMs: 1000,
    mailboxCapacity: 16,
    connectBudget: 100,
    logLevel: 'debug',
    logSummaryMs: 0,
    limitsFile: '/etc/aether/limits.json',
    adminToken: 'a-secret-of-32-characters-long!!',
    volIntervalMs: 250,
    volLambda: 0.97,
    flowWindowSec: 60,
    clipNotional: 100_000,
    dbSchema: 'risk_ci',
    redisPrefix: 'ci42:',
    snapshotIntervalMs: 0,
    snapshotLevels: 25,
    writerInProcess: false,
    writerBatchMax: 1000,
    writerQueueCapacity: 5000,
    writerAckWaitMs: 5000,
    recordsMaxBytes: 1_048_576,
    recordsMaxAgeHours: 24,
    compressAfterDays: 2,
    retentionDays: 30,
    redisMarketTtlSec: 60,
    streamReplicas: 3,
    gateway: false,
    gatewayHost: '127.0.0.1',
    // Only SHA-256 digests of the tokens are kept.
    gatewayTokens: [createHash('sha256').update('token-one-0123456789').digest('hex'), createHash('sha256').update('token-two-0123456789').digest('hex')],
    gatewayTokensFile: '/run/secrets/gateway-tokens',
    gatewayOrigins: ['https://risk.example.com', 'http://localhost:3000'],
    gatewayMaxConnections: 500,
    gatewayMaxConnectionsPerIp: 5,
    gatewayControlRate: 0.5,
    gatewayControlBurst: 4,
    gatewayIdleTimeoutSec: 30,
    gatewayMaxMessageBytes: 1024,
    gatewayConflateBytes: 2048,
    gatewayCloseBytes: 8192,
    gatewayConflateIntervalMs: 250,
    gatewayBookLevels: 25,
    gatewayBookIntervalMs: 50,
  };
  t.match(c, expected);
  t.same(c.symbols, { kind: 'list', symbols: ['SOL/USD', '1INCH/EUR'] });
  t.same(natsServers(c), ['nats://a:4222', 'tls://b:4443']);
});

t.test('config - all-usd selects every online USD pair', async (t) => {
  t.same(loadConfig({ env: { AETHER_SYMBOLS: 'all-usd' } }).symbols, { kind: 'all-usd' });
  t.same(loadConfig({ env: { AETHER_SYMBOLS: 'ALL-USD' } }).symbols, { kind: 'all-usd' });
});

t.test('config - empty URL variables mean off; PGHOST or PGDATABASE mark PostgreSQL configured', async (t) => {
  const c = loadConfig({ env: { NATS_URL: '', REDIS_URL: '', DATABASE_URL: '' } });
  t.equal(c.natsUrl, null);
  t.equal(c.redisUrl, null);
  t.equal(c.databaseConfigured, false);
  t.equal(loadConfig({ env: { PGHOST: '/var/run/postgresql' } }).databaseConfigured, true);
  t.equal(loadConfig({ env: { PGDATABASE: 'aether' } }).databaseConfigured, true);
  t.equal(loadConfig({ env: { PGHOST: '' } }).databaseConfigured, false);
});

t.test('config - file < environment < overrides, key by key', async (t) => {
  const file = writeFile({ bookDepth: 100, workers: 3, symbols: ['ADA/USD', 'DOT/USD'], simulation: true, natsUrl: ['nats://x:1'] });
  const fromFile = loadConfig({ env: {}, file });
  t.equal(fromFile.bookDepth, 100);
  t.equal(fromFile.workers, 3);
  t.same(fromFile.symbols, { kind: 'list', symbols: ['ADA/USD', 'DOT/USD'] });
  t.equal(fromFile.simulation, true);
  t.equal(fromFile.natsUrl, 'nats://x:1');

  const envWins = loadConfig({ env: { AETHER_BOOK_DEPTH: '10', AETHER_SIMULATION: 'false' }, file });
  t.equal(envWins.bookDepth, 10, 'environment overrides the file');
  t.equal(envWins.workers, 3, 'keys the environment does not set still come from the file');
  t.equal(envWins.simulation, false);

  const overrideWins = loadConfig({ env: { AETHER_BOOK_DEPTH: '10' }, file, overrides: { bookDepth: '500', workers: undefined } });
  t.equal(overrideWins.bookDepth, 500, 'overrides beat the environment');
  t.equal(overrideWins.workers, 3, 'an undefined override is ignored');
});

t.test('config - AETHER_CONFIG names the file; the file input takes precedence over it', async (t) => {
  const a = writeFile({ bookDepth: 100 });
  const b = writeFile({ bookDepth: 500 });
  t.equal(loadConfig({ env: { AETHER_CONFIG: a } }).bookDepth, 100);
  t.equal(loadConfig({ env: { AETHER_CONFIG: a }, file: b }).bookDepth, 500);
});

t.test('config - an unknown AETHER_ variable is refused by name', async (t) => {
  const err = refused({ env: { AETHER_SIMULATON: '1' } });
  t.equal(err.code, ErrorCode.E_CONFIG);
  t.same(err.violations.map((v) => v.key), ['AETHER_SIMULATON']);
  t.match(err.message, /AETHER_SIMULATON: is not a known setting \(did you mean AETHER_SIMULATION\?\)/);
});

t.test('config - variables without the AETHER_ prefix are not ours and are ignored', async (t) => {
  t.doesNotThrow(() => loadConfig({ env: { HOME: '/root', SIMULATION: 'x', NODE_ENV: 'production' } }));
});

t.test('config - an unknown config file key is refused by name', async (t) => {
  const file = writeFile({ bookDepth: 10, simulaton: true });
  const err = refused({ env: {}, file });
  t.equal(err.violations.length, 1);
  t.match(err.violations[0], { key: `simulaton (in ${file})`, code: 'E_CONFIG' });
  t.match(err.message, /simulaton .*is not a known setting \(did you mean simulation\?\)/);
});

t.test('config - unreadable or invalid config files are refused with their path', async (t) => {
  const missing = join(dir, 'does-not-exist.json');
  t.match(refused({ env: {}, file: missing }).message, `cannot read ${missing}`);
  const broken = writeFile('{ "bookDepth": 10,');
  t.match(refused({ env: {}, file: broken }).message, `${broken} is not valid JSON`);
  const notObject = writeFile('[1, 2]');
  t.match(refused({ env: { AETHER_CONFIG: notObject } }).violations[0], {
    key: 'AETHER_CONFIG',
    message: /must contain a JSON object/,
  });
});

t.test('config - every violation is reported at once', async (t) => {
  const file = writeFile({ port: 'eighty', nope: 1 });
  const err = refused({
    env: {
      AETHER_BOOK_DEPTH: '27',
      AETHER_WORKERS: '0',
      AETHER_SYMBOLS: 'btc/usd',
      NATS_URL: 'http://nats:4222',
      AETHER_TYPO: 'x',
    },
    file,
    overrides: { simRate: '0' },
    overrideNames: { simRate: '--rate' },
  });
  const keys = err.violations.map((v) => v.key).sort();
  t.same(keys, [
    '--rate',
    'AETHER_BOOK_DEPTH',
    'AETHER_SYMBOLS',
    'AETHER_TYPO',
    'AETHER_WORKERS',
    'NATS_URL',
    `nope (in ${file})`,
    `port (in ${file})`,
  ].sort());
  for (const v of err.violations) t.ok(err.message.includes(`${v.key}: ${v.message}`), `message lists ${v.key}`);
  t.match(err.message, /invalid configuration \(8 problems\)/);
});

t.test('config - a bad book depth names AETHER_BOOK_DEPTH and the allowed depths', async (t) => {
  const err = refused({ env: { AETHER_BOOK_DEPTH: '27' } });
  t.ok(err.message.includes('AETHER_BOOK_DEPTH: must be one of 10, 25, 100, 500, 1000 (got "27")'), err.message);
  t.same(err.violations, [
    { key: 'AETHER_BOOK_DEPTH', message: 'must be one of 10, 25, 100, 500, 1000 (got "27")', code: 'E_CONFIG' },
  ]);
});

t.test('config - every true spelling of AETHER_SIMULATION is refused in production', async (t) => {
  for (const spelling of ['TRUE', 'True', 'true', '1', 'yes', 'YES', 'on', 'On']) {
    const err = refused({ env: { AETHER_ENV: 'production', AETHER_SIMULATION: spelling } });
    t.equal(err.code, ErrorCode.E_SIM_IN_PRODUCTION, `${spelling}: error code`);
    t.same(
      err.violations,
      [
        {
          key: 'AETHER_SIMULATION',
          message: 'simulation mode cannot be enabled when AETHER_ENV=production',
          code: 'E_SIM_IN_PRODUCTION',
        },
      ],
      `${spelling}: one violation naming AETHER_SIMULATION`,
    );
    t.equal(loadConfig({ env: { AETHER_ENV: 'staging', AETHER_SIMULATION: spelling } }).simulation, true);
  }
});

t.test('config - simulation from the file or a flag is refused in production too', async (t) => {
  const file = writeFile({ simulation: true });
  t.equal(refused({ env: { AETHER_ENV: 'production' }, file }).code, ErrorCode.E_SIM_IN_PRODUCTION);
  const viaFlag = refused({
    env: { AETHER_ENV: 'production' },
    overrides: { simulation: true },
    overrideNames: { simulation: '--simulation' },
  });
  t.equal(viaFlag.code, ErrorCode.E_SIM_IN_PRODUCTION);
  t.equal(viaFlag.violations[0]?.key, '--simulation');
  const envFile = writeFile({ env: 'production' });
  t.equal(refused({ env: { AETHER_SIMULATION: '1' }, file: envFile }).code, ErrorCode.E_SIM_IN_PRODUCTION);
});

t.test('config - false spellings pass in production; other spellings are violations everywhere', async (t) => {
  for (const spelling of ['FALSE', 'False', '0', 'no', 'off', 'OFF']) {
    t.equal(loadConfig({ env: { AETHER_ENV: 'production', AETHER_SIMULATION: spelling } }).simulation, false);
  }
  for (const spelling of ['maybe', '', 'y', '2', 'enabled']) {
    for (const envName of ['development', 'production']) {
      const err = refused({ env: { AETHER_ENV: envName, AETHER_SIMULATION: spelling } });
      t.equal(err.code, ErrorCode.E_CONFIG);
      t.match(err.violations[0], { key: 'AETHER_SIMULATION', message: /must be a boolean/ });
    }
  }
});

t.test('config - the production rule is reported alongside other violations', async (t) => {
  const err = refused({ env: { AETHER_ENV: 'production', AETHER_SIMULATION: 'yes', AETHER_BOOK_DEPTH: '27' } });
  t.equal(err.code, ErrorCode.E_SIM_IN_PRODUCTION, 'the safety code wins');
  t.same(err.violations.map((v) => v.code).sort(), ['E_CONFIG', 'E_SIM_IN_PRODUCTION']);
});

t.test('config - shard index must be below the shard count', async (t) => {
  const err = refused({ env: { AETHER_SHARD_INDEX: '3', AETHER_SHARD_COUNT: '3' } });
  t.match(err.violations, [{ key: 'AETHER_SHARD_INDEX', message: /less than the shard count 3/ }]);
  t.equal(loadConfig({ env: { AETHER_SHARD_INDEX: '2', AETHER_SHARD_COUNT: '3' } }).shardIndex, 2);
});

t.test('config - value rules at their edges', async (t) => {
  const bad: Record<string, string[]> = {
    PORT: ['65536', '-1', '80.5', 'http'],
    AETHER_WORKERS: ['65', '0'],
    AETHER_MAILBOX_CAPACITY: ['15', '1000001'],
    AETHER_CONNECT_BUDGET: ['151', '0'],
    AETHER_HEARTBEAT_TIMEOUT_MS: ['999'],
    AETHER_SIM_RATE: ['0', '100001', '-5'],
    AETHER_SIM_SYMBOLS: ['1001'],
    AETHER_RISK_MAX_RATE_HZ: ['-0.1', 'fast'],
    AETHER_NATS_NAMESPACE: ['a..b', 'a b', '.a', 'a.>'],
    AETHER_SYMBOLS: ['', 'BTCUSD', 'BTC/USD,', 'BTC/USD,BTC/USD', 'XBT-USD'],
    AETHER_KRAKEN_URL: ['https://ws.kraken.com/v2', 'ws.kraken.com'],
    REDIS_URL: ['http://r:6379'],
    DATABASE_URL: ['mysql://db/x'],
    AETHER_LOG_LEVEL: ['verbose'],
    AETHER_ENV: ['prod'],
  };
  for (const [name, values] of Object.entries(bad)) {
    for (const value of values) {
      const err = refused({ env: { [name]: value } });
      t.equal(err.violations[0]?.key, name, `${name}=${JSON.stringify(value)} is refused`);
    }
  }
});

t.test('config - the result is deeply frozen', async (t) => {
  const c = loadConfig({ env: {} });
  t.ok(Object.isFrozen(c));
  t.throws(() => {
    (c as { port: number }).port = 1;
  }, TypeError);
  t.throws(() => {
    (c.symbols as { kind: 'list'; symbols: string[] }).symbols.push('SOL/USD');
  }, TypeError);
  t.equal(c.port, 8080);
});

t.test('config - redactedConfig hides URL credentials and keeps hosts', async (t) => {
  const c = loadConfig({
    env: {
      NATS_URL: 'nats://user:s3cret@n1:4222,tls://tok@n2:4443',
      DATABASE_URL: 'postgresql://aether:pw@db/aether?sslmode=require&password=pw2',
      REDIS_URL: 'redis://:hunter2@cache:6379/0',
    },
  });
  const r = redactedConfig(c);
  t.equal(r.natsUrl, 'nats://***@n1:4222,tls://***@n2:4443');
  t.equal(r.databaseUrl, 'postgresql://***@db/aether?sslmode=require&password=***');
  t.equal(r.redisUrl, 'redis://***@cache:6379/0');
  t.equal(r.bookDepth, c.bookDepth);
  t.ok(Object.isFrozen(r));
  t.notMatch(JSON.stringify(r), /s3cret|hunter2|pw/);
});

t.test('config - a refused URL is echoed without its credentials', async (t) => {
  const err = refused({ env: { NATS_URL: 'http://user:s3cret@nats:4222' } });
  t.notMatch(err.message, /s3cret/);
});

t.test('config - docs/configuration.md lists every setting in its table', async (t) => {
  const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const m of doc.matchAll(/^\| `([A-Za-z]+)` \| `([A-Z_]+)` \|/gm)) rows.set(m[1] ?? '', m[2] ?? '');
  for (const k of configKeys) {
    t.equal(rows.get(k.key), k.env, `table lists ${k.key} with ${k.env}`);
  }
  t.same([...rows.keys()].sort(), configKeys.map((k) => k.key).sort(), 'and nothing else');
});

t.test('config - production with a database but no NATS is refused (the in-process queue is for development)', async (t) => {
  const err = refused({ env: { AETHER_ENV: 'production', DATABASE_URL: 'postgres://db:5432/aether' } });
  t.match(err.message, /DATABASE_URL: requires NATS_URL when AETHER_ENV=production/);
  t.doesNotThrow(() => loadConfig({ env: { AETHER_ENV: 'production', DATABASE_URL: 'postgres://db:5432/aether', NATS_URL: 'nats://nats:4222', AETHER_GATEWAY_TOKENS: 'x'.repeat(64) } }).env);
  t.doesNotThrow(() => loadConfig({ env: { DATABASE_URL: 'postgres://db:5432/aether' } }), 'development: the in-process queue is allowed');
});

t.test('config - TimescaleDB compression must start after the RECORDS stream age limit', async (t) => {
  const err = refused({ env: { AETHER_COMPRESS_AFTER_DAYS: '7', AETHER_RECORDS_MAX_AGE_HOURS: '168' } });
  t.match(err.message, /AETHER_COMPRESS_AFTER_DAYS: must be longer than the RECORDS stream's age limit 168 h/);
  t.doesNotThrow(() => loadConfig({ env: { AETHER_COMPRESS_AFTER_DAYS: '8', AETHER_RECORDS_MAX_AGE_HOURS: '168' } }));
});
