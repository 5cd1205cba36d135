/**
 * The `aether-risk` command line. It parses flags, builds the one Config (flags are the
 * highest-precedence source) and only then loads the command module. Every usage or
 * configuration problem is reported at once, with exit code 2, before any module that could
 * open a socket or a port has even been imported — so `AETHER_ENV=production aether-risk
 * demo` can never reach an exchange, simulated or real.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad flags or configuration.
 */
import { parseArgs } from 'node:util';
import { configKeys, loadConfig, redactedConfig, type Config } from './config.js';
import { ConfigError, isAetherError } from './errors.js';
import { createLogger, type Logger } from './logger.js';

const PROG = 'aether-risk';
const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

type CommandName = 'start' | 'demo' | 'gateway' | 'record' | 'replay' | 'check' | 'halt' | 'release' | 'positions' | 'migrate' | 'writer' | 'stream-backup' | 'stream-restore';

interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  /** Shown in help after the flag, e.g. FILE. */
  readonly arg?: string;
  readonly help: string;
}

interface CommandSpec {
  readonly summary: string;
  readonly usage: string;
  readonly description: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
}

const CONFIG_FLAG: FlagSpec = {
  type: 'string',
  arg: 'FILE',
  help: 'JSON config file (see docs/configuration.md); overrides AETHER_CONFIG',
};

const commands: Readonly<Record<CommandName, CommandSpec>> = {
  start: {
    summary: 'Run the engine against Kraken (or the simulated exchange with --simulation)',
    usage: `${PROG} start [flags]`,
    description:
      'Connects to the Kraken WebSocket v2 feed (AETHER_KRAKEN_URL), keeps one order book per\n' +
      'instrument in worker-thread actors, verifies every book checksum, computes market risk\n' +
      'and publishes it on NATS (NATS_URL) and in the log. Runs until SIGINT or SIGTERM.',
    flags: {
      config: CONFIG_FLAG,
      symbols: { type: 'string', arg: 'LIST', help: 'symbols to follow, e.g. BTC/USD,ETH/USD, or all-usd (AETHER_SYMBOLS)' },
      depth: { type: 'string', arg: 'N', help: 'book depth: 10, 25, 100, 500 or 1000 (AETHER_BOOK_DEPTH)' },
      workers: { type: 'string', arg: 'N', help: 'worker threads, 1..64 (AETHER_WORKERS)' },
      simulation: {
        type: 'boolean',
        help: 'use the in-process simulated exchange (AETHER_SIMULATION=true); refused in production',
      },
    },
  },
  demo: {
    summary: 'Run the engine against the in-process simulated exchange',
    usage: `${PROG} demo [flags]`,
    description:
      'Starts a simulated Kraken exchange in this process and runs the engine against it: no\n' +
      'Kraken connection and no credentials needed. Always simulation, so it is refused when\n' +
      'AETHER_ENV=production.',
    flags: {
      config: CONFIG_FLAG,
      'symbols-count': { type: 'string', arg: 'N', help: 'number of simulated symbols, 1..1000 (AETHER_SIM_SYMBOLS)' },
      rate: { type: 'string', arg: 'N', help: 'book messages per second per symbol, 0 < N <= 100000 (AETHER_SIM_RATE)' },
      port: { type: 'string', arg: 'N', help: 'HTTP/WebSocket gateway port, 0 = any free port (PORT)' },
    },
  },
  gateway: {
    summary: 'Run the HTTP/WebSocket gateway as its own process, fed from NATS',
    usage: `${PROG} gateway [flags]`,
    description:
      'Serves /v1/stream, the REST snapshots, /healthz, /readyz and /metrics on PORT with the\n' +
      'risk, account risk and events that the engine publishes on NATS (NATS_URL, in\n' +
      'AETHER_NATS_NAMESPACE). Order books and trades are served only by the gateway embedded\n' +
      'in `start`/`demo`. See docs/streaming.md. Runs until SIGINT or SIGTERM.',
    flags: {
      config: CONFIG_FLAG,
      port: { type: 'string', arg: 'N', help: 'HTTP/WebSocket port, 0 = any free port (PORT)' },
    },
  },
  record: {
    summary: 'Record the raw book feed to a file for later replay',
    usage: `${PROG} record --out FILE [flags]`,
    description:
      'Subscribes to the book channel and writes every raw frame, with its receive time, to\n' +
      'FILE until --duration has elapsed or SIGINT. The file is the input of "replay".',
    flags: {
      out: { type: 'string', arg: 'FILE', help: '(required) file to write the recording to' },
      config: CONFIG_FLAG,
      symbols: { type: 'string', arg: 'LIST', help: 'symbols to record, e.g. BTC/USD,ETH/USD, or all-usd (AETHER_SYMBOLS)' },
      depth: { type: 'string', arg: 'N', help: 'book depth: 10, 25, 100, 500 or 1000 (AETHER_BOOK_DEPTH)' },
      duration: { type: 'string', arg: 'SECONDS', help: 'stop after this many seconds (default: until SIGINT)' },
      simulation: { type: 'boolean', help: 'record from the simulated exchange instead of Kraken; refused in production' },
    },
  },
  replay: {
    summary: 'Replay a recording offline through the order books and verify checksums',
    usage: `${PROG} replay --file FILE [flags]`,
    description:
      'Feeds a recording through the same book code the engine runs, verifies every Kraken\n' +
      'CRC32 checksum and prints a summary. Opens no network connection.',
    flags: {
      file: { type: 'string', arg: 'FILE', help: '(required) recording written by "aether-risk record"' },
      config: CONFIG_FLAG,
      depth: { type: 'string', arg: 'N', help: 'truncate books to this depth (default: the depth in the recording)' },
      precision: {
        type: 'string',
        multiple: true,
        arg: 'SYMBOL=PRICE_DP,QTY_DP',
        help: 'decimals of price and quantity for SYMBOL, e.g. BTC/USD=1,8; repeatable;\n' +
          'needed when the recording does not carry instrument data',
      },
      strict: { type: 'boolean', help: 'exit 1 when any checksum does not verify (the whole file is still replayed and summarised)' },
      json: { type: 'boolean', help: 'print the summary as JSON on stdout (logs stay on stderr)' },
    },
  },
  check: {
    summary: 'Send a pre-trade check to the running engine and print its decision',
    usage: `${PROG} check --account A --symbol S --side buy|sell --qty Q [--price P]`,
    description:
      'Asks the engine (over NATS_URL, in AETHER_NATS_NAMESPACE) whether the order would pass\n' +
      'its limits and prints the decision as JSON: accept, every failing reason code, and\n' +
      'the figures used. Without --price it is a market order. Exit 0 when answered.',
    flags: {
      config: CONFIG_FLAG,
      account: { type: 'string', arg: 'A', help: '(required) account' },
      symbol: { type: 'string', arg: 'S', help: '(required) symbol, e.g. BTC/USD' },
      side: { type: 'string', arg: 'buy|sell', help: '(required) side' },
      qty: { type: 'string', arg: 'Q', help: '(required) quantity (base currency, decimal)' },
      price: { type: 'string', arg: 'P', help: 'limit price (omit for a market order)' },
    },
  },
  halt: {
    summary: 'Halt an account (kill switch): nothing passes until released',
    usage: `${PROG} halt --account A --reason TEXT`,
    description: 'Engages the kill switch for one account over NATS, authenticated with\nAETHER_ADMIN_TOKEN. The transition is recorded as a durable event.',
    flags: {
      config: CONFIG_FLAG,
      account: { type: 'string', arg: 'A', help: '(required) account' },
      reason: { type: 'string', arg: 'TEXT', help: '(required) why (recorded in the event)' },
    },
  },
  release: {
    summary: 'Release a halted account (also after an automatic halt)',
    usage: `${PROG} release --account A`,
    description: 'Releases the kill switch for one account over NATS, authenticated with\nAETHER_ADMIN_TOKEN. Limits still apply: a breach that persists halts it again.',
    flags: {
      config: CONFIG_FLAG,
      account: { type: 'string', arg: 'A', help: '(required) account' },
    },
  },
  positions: {
    summary: 'Print an account\'s positions and risk from the running engine',
    usage: `${PROG} positions --account A`,
    description: 'Prints positions, PnL, exposure, VaR/ES and trading state of one account as JSON.',
    flags: {
      config: CONFIG_FLAG,
      account: { type: 'string', arg: 'A', help: '(required) account' },
    },
  },
  migrate: {
    summary: 'Apply the database migrations (DATABASE_URL) and exit',
    usage: `${PROG} migrate`,
    description:
      'Creates or upgrades the schema (AETHER_DB_SCHEMA) under an advisory lock: each migration\n' +
      'applies once, in order. Uses TimescaleDB hypertables when the extension is available, plain\n' +
      'PostgreSQL tables otherwise (see docs/persistence.md). The engine also migrates at start-up.',
    flags: { config: CONFIG_FLAG },
  },
  'stream-backup': {
    summary: 'Back up one JetStream stream (configuration and every message) to a file',
    usage: `${PROG} stream-backup --stream NAME --out FILE`,
    description:
      'Reads the stream\'s configuration and every message it holds (subject, headers such as\n' +
      'Nats-Msg-Id, payload) into FILE as JSON lines, without touching the stream. See\n' +
      'docs/persistence.md (backup and restore). Needs NATS_URL.',
    flags: {
      config: CONFIG_FLAG,
      stream: { type: 'string', arg: 'NAME', help: '(required) stream name, e.g. AETHER_FILLS' },
      out: { type: 'string', arg: 'FILE', help: '(required) file to write' },
    },
  },
  'stream-restore': {
    summary: 'Restore a stream backup made by stream-backup',
    usage: `${PROG} stream-restore --file FILE`,
    description:
      'Creates the stream from the saved configuration when it does not exist, then publishes\n' +
      'every saved message in order with its subject and headers. Needs NATS_URL.',
    flags: {
      config: CONFIG_FLAG,
      file: { type: 'string', arg: 'FILE', help: '(required) backup file' },
    },
  },
  writer: {
    summary: 'Run a database writer: JetStream RECORDS → PostgreSQL (COPY batches)',
    usage: `${PROG} writer`,
    description:
      'Consumes the RECORDS stream with the shared durable consumer and stores batches in\n' +
      'PostgreSQL, acknowledging after each commit. Run as many replicas as needed; set\n' +
      'AETHER_WRITER_IN_PROCESS=false on the engines when writers run on their own. Needs NATS_URL\n' +
      'and DATABASE_URL. Runs until SIGINT or SIGTERM.',
    flags: { config: CONFIG_FLAG },
  },
};

const commandNames = Object.keys(commands) as CommandName[];

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(commands, name);
}

// ---------------------------------------------------------------------------------------
// Help

function globalHelp(): string {
  const width = Math.max(...commandNames.map((c) => c.length));
  const lines = commandNames.map((c) => `  ${c.padEnd(width)}  ${commands[c].summary}`);
  return `${PROG} - real-time market risk for Kraken spot markets

Usage:
  ${PROG} <command> [flags]
  ${PROG} <command> --help     help for one command
  ${PROG} help config          list every configuration setting

Commands:
${lines.join('\n')}

Configuration:
  Every setting has a default and can be given in a JSON config file (--config FILE or
  AETHER_CONFIG), as an environment variable, or for some by flag. Later sources win:
  defaults < config file < environment < flags. Unknown AETHER_* variables and unknown
  file keys are refused. See docs/configuration.md.

Exit codes: 0 success, 1 runtime failure, 2 bad flags or configuration (nothing started).
Error codes are explained in docs/errors.md.
`;
}

function flagLabel(name: string, spec: FlagSpec): string {
  return spec.arg === undefined ? `--${name}` : `--${name} ${spec.arg}`;
}

function commandHelp(name: CommandName): string {
  const spec = commands[name];
  const rows: [string, string][] = Object.entries(spec.flags).map(([flag, f]) => [flagLabel(flag, f), f.help]);
  rows.push(['-h, --help', 'show this help']);
  const width = Math.min(28, Math.max(...rows.map(([label]) => label.length)));
  const indent = ' '.repeat(width + 4);
  const flagLines = rows.map(([label, help]) => {
    const text = help.split('\n').join(`\n${indent}`);
    return label.length > width ? `  ${label}\n${indent}${text}` : `  ${label.padEnd(width)}  ${text}`;
  });
  return `Usage: ${spec.usage}

${spec.summary}.

${spec.description}

Flags:
${flagLines.join('\n')}

Every other setting comes from the config file or the environment (for example
AETHER_LOG_LEVEL=debug); run "${PROG} help config" or see docs/configuration.md.
`;
}

function configHelp(): string {
  const entries = configKeys.map(
    (k) => `  ${k.env}  (file key: ${k.key}, default: ${k.default})\n      ${k.description}\n      Must be ${k.allowed}.`,
  );
  return `Configuration settings (precedence: defaults < config file < environment < flags).
The config file is JSON with the camelCase keys below; name it with --config FILE or
AETHER_CONFIG. Full reference: docs/configuration.md.

${entries.join('\n\n')}
`;
}

// ---------------------------------------------------------------------------------------
// Flag handling

type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

function str(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function bool(values: FlagValues, name: string): boolean {
  return values[name] === true;
}

const PRECISION_RE = /^([A-Z0-9]+\/[A-Z0-9]+)=(\d{1,2}),(\d{1,2})$/;
const MAX_DECIMALS = 15; // the exact-decimal limit of the book (actors/decimal.ts MAX_FRACTION_DIGITS)

function parsePrecision(items: readonly string[], problems: string[]): Map<string, { price: number; qty: number }> {
  const map = new Map<string, { price: number; qty: number }>();
  for (const item of items) {
    const m = PRECISION_RE.exec(item.trim());
    const symbol = m?.[1];
    const price = Number(m?.[2]);
    const qty = Number(m?.[3]);
    if (symbol === undefined || !(price <= MAX_DECIMALS) || !(qty <= MAX_DECIMALS)) {
      problems.push(
        `--precision: must be SYMBOL=PRICE_DP,QTY_DP with uppercase SYMBOL and decimals 0..${MAX_DECIMALS}, e.g. BTC/USD=1,8 (got ${JSON.stringify(item)})`,
      );
    } else if (map.has(symbol)) {
      problems.push(`--precision: ${symbol} is given more than once`);
    } else {
      map.set(symbol, { price, qty });
    }
  }
  return map;
}

interface Plan {
  readonly file: string | undefined;
  readonly overrides: Partial<Record<keyof Config, unknown>>;
  readonly overrideNames: Partial<Record<keyof Config, string>>;
  readonly run: (config: Config, log: Logger) => Promise<number>;
}

/** Turns one command's flags into config overrides and the call of its module. */
function plan(name: CommandName, values: FlagValues, problems: string[]): Plan {
  const file = str(values, 'config');
  switch (name) {
    case 'start':
      return {
        file,
        overrides: {
          symbols: str(values, 'symbols'),
          bookDepth: str(values, 'depth'),
          workers: str(values, 'workers'),
          simulation: bool(values, 'simulation') ? true : undefined,
        },
        overrideNames: { symbols: '--symbols', bookDepth: '--depth', workers: '--workers', simulation: '--simulation' },
        run: async (config, log) => (await import('./commands/start.js')).runStart(config, log),
      };
    case 'demo':
      return {
        file,
        overrides: {
          simSymbols: str(values, 'symbols-count'),
          simRate: str(values, 'rate'),
          port: str(values, 'port'),
          simulation: true,
        },
        overrideNames: { simSymbols: '--symbols-count', simRate: '--rate', port: '--port', simulation: 'demo (always simulation)' },
        run: async (config, log) => (await import('./commands/demo.js')).runDemo(config, log),
      };
    case 'gateway':
      return {
        file,
        overrides: { port: str(values, 'port') },
        overrideNames: { port: '--port' },
        run: async (config, log) => (await import('./gateway/standalone.js')).runGateway(config, log),
      };
    case 'record': {
      const out = str(values, 'out');
      if (out === undefined || out === '') problems.push('--out FILE is required');
      const duration = str(values, 'duration');
      let durationSec: number | null = null;
      if (duration !== undefined) {
        const n = Number(duration);
        if (duration.trim() === '' || !Number.isFinite(n) || n <= 0) {
          problems.push(`--duration: must be a number of seconds greater than 0 (got ${JSON.stringify(duration)})`);
        } else {
          durationSec = n;
        }
      }
      return {
        file,
        overrides: {
          symbols: str(values, 'symbols'),
          bookDepth: str(values, 'depth'),
          simulation: bool(values, 'simulation') ? true : undefined,
        },
        overrideNames: { symbols: '--symbols', bookDepth: '--depth', simulation: '--simulation' },
        run: async (config, log) =>
          (await import('./commands/record.js')).runRecord(config, log, { out: out ?? '', durationSec }),
      };
    }
    case 'check':
    case 'halt':
    case 'release':
    case 'positions': {
      const need = (flag: string): string => {
        const v = str(values, flag);
        if (v === undefined || v === '') problems.push(`--${flag} is required`);
        return v ?? '';
      };
      const account = need('account');
      let cmd: import('./commands/operator.js').OperatorCommand;
      if (name === 'check') {
        const symbol = need('symbol');
        const side = need('side');
        if (side !== '' && side !== 'buy' && side !== 'sell') problems.push(`--side: must be buy or sell (got ${JSON.stringify(side)})`);
        const qty = need('qty');
        cmd = { kind: 'check', account, symbol, side: side === 'sell' ? 'sell' : 'buy', qty, price: str(values, 'price') ?? null };
      } else if (name === 'halt') cmd = { kind: 'halt', account, reason: need('reason') };
      else cmd = { kind: name, account };
      return { file, overrides: {}, overrideNames: {}, run: async (config, log) => (await import('./commands/operator.js')).runOperator(config, log, cmd) };
    }
    case 'migrate':
      return { file, overrides: {}, overrideNames: {}, run: async (config, log) => (await import('./commands/persist.js')).runMigrate(config, log) };
    case 'writer':
      return { file, overrides: {}, overrideNames: {}, run: async (config, log) => (await import('./commands/persist.js')).runWriter(config, log) };
    case 'stream-backup':
    case 'stream-restore': {
      const need = (flag: string): string => {
        const v = str(values, flag);
        if (v === undefined || v === '') problems.push(`--${flag} is required`);
        return v ?? '';
      };
      if (name === 'stream-backup') {
        const stream = need('stream');
        const out = need('out');
        return { file, overrides: {}, overrideNames: {}, run: async (config, log) => (await import('./commands/streams.js')).runStreamBackup(config, log, stream, out) };
      }
      const input = need('file');
      return { file, overrides: {}, overrideNames: {}, run: async (config, log) => (await import('./commands/streams.js')).runStreamRestore(config, log, input) };
    }
    case 'replay': {
      const input = str(values, 'file');
      if (input === undefined || input === '') problems.push('--file FILE is required');
      const rawPrecision = values['precision'];
      const precision = parsePrecision(
        Array.isArray(rawPrecision) ? rawPrecision.filter((p): p is string => typeof p === 'string') : [],
        problems,
      );
      const depthGiven = str(values, 'depth') !== undefined;
      return {
        file,
        overrides: { bookDepth: str(values, 'depth') },
        overrideNames: { bookDepth: '--depth' },
        run: async (config, log) =>
          (await import('./commands/replay.js')).runReplay(config, log, {
            file: input ?? '',
            depth: depthGiven ? config.bookDepth : null,
            precision,
            strict: bool(values, 'strict'),
            json: bool(values, 'json'),
          }),
      };
    }
  }
}

// ---------------------------------------------------------------------------------------

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

function reportProblems(name: CommandName, problems: readonly string[], configError: ConfigError | null): void {
  const lines: string[] = problems.map((p) => `  - ${p}`);
  for (const v of configError?.violations ?? []) {
    lines.push(`  - ${v.key}: ${v.message}${v.code === 'E_CONFIG' ? '' : ` [${v.code}]`}`);
  }
  const code = configError?.code ?? 'usage';
  const n = lines.length;
  write(
    process.stderr,
    `${PROG} ${name}: refused (${code}), ${n} problem${n === 1 ? '' : 's'}:\n${lines.join('\n')}\n` +
      `Nothing was started. Run "${PROG} ${name} --help"; settings are described in docs/configuration.md.`,
  );
}

async function runCommand(name: CommandName, args: readonly string[]): Promise<number> {
  const spec = commands[name];
  let values: FlagValues;
  try {
    const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
      help: { type: 'boolean', short: 'h' },
    };
    for (const [flag, f] of Object.entries(spec.flags)) {
      options[flag] = f.multiple === true ? { type: f.type, multiple: true } : { type: f.type };
    }
    values = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values as FlagValues;
  } catch (err) {
    write(process.stderr, `${PROG} ${name}: ${(err as Error).message}\nRun "${PROG} ${name} --help" for usage.`);
    return EXIT_USAGE;
  }
  if (bool(values, 'help')) {
    write(process.stdout, commandHelp(name));
    return EXIT_OK;
  }

  const problems: string[] = [];
  const p = plan(name, values, problems);
  let config: Config | null = null;
  let configError: ConfigError | null = null;
  try {
    config = loadConfig({
      ...(p.file === undefined ? {} : { file: p.file }),
      overrides: p.overrides,
      overrideNames: p.overrideNames,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    configError = err;
  }
  if (config === null || problems.length > 0) {
    reportProblems(name, problems, configError);
    return EXIT_USAGE;
  }

  const log = createLogger({ level: config.logLevel, name: 'aether' });
  log.info({ command: name, config: redactedConfig(config) }, 'configuration loaded');
  try {
    return await p.run(config, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      reportProblems(name, [], err);
      return EXIT_USAGE;
    }
    const code = isAetherError(err) ? err.code : undefined;
    log.fatal({ err, code }, `${name} failed${code === undefined ? '' : ` (${code})`}`);
    return EXIT_FAILURE;
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    write(process.stderr, globalHelp());
    return EXIT_USAGE;
  }
  if (first === 'help' || first === '--help' || first === '-h') {
    const topic = rest[0];
    if (topic === undefined) write(process.stdout, globalHelp());
    else if (isCommand(topic)) write(process.stdout, commandHelp(topic));
    else if (topic === 'config') write(process.stdout, configHelp());
    else {
      write(process.stderr, `${PROG}: no help for "${topic}"; topics: ${[...commandNames, 'config'].join(', ')}`);
      return EXIT_USAGE;
    }
    return EXIT_OK;
  }
  if (!isCommand(first)) {
    const what = first.startsWith('-') ? `unknown option "${first}"` : `unknown command "${first}"`;
    write(process.stderr, `${PROG}: ${what}; commands: ${commandNames.join(', ')}. Run "${PROG} --help".`);
    return EXIT_USAGE;
  }
  return runCommand(first, rest);
}

/** Runs the CLI; returns the exit code and also sets process.exitCode. */
export async function main(argv: readonly string[]): Promise<number> {
  const code = await dispatch(argv);
  process.exitCode = code;
  return code;
}
