/**
 * Structured logging (pino). JSON lines on stderr by default, so stdout stays free for
 * command output (`replay --json`). When the destination is a terminal the lines are
 * prettified by pino-pretty used as a synchronous stream in this thread — not a transport
 * worker — so it also works inside our own worker threads and never loses the last lines
 * on exit.
 *
 * Secrets never reach the log: known secret paths are censored, and URL-valued config
 * fields keep their host but lose their credentials (the same rule as redactedConfig).
 */
import { hostname } from 'node:os';
import { isatty } from 'node:tty';
import { isMainThread, threadId } from 'node:worker_threads';
import { pino, type DestinationStream, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import pinoPretty from 'pino-pretty';
import { redactUrlCredentials } from './config.js';

export type Logger = PinoLogger;

export interface CreateLoggerOptions {
  /** A pino level: fatal, error, warn, info, debug, trace or silent. */
  readonly level: string;
  readonly name?: string;
  /** Human-readable output; defaults to whether the destination fd is a terminal. */
  readonly pretty?: boolean;
  /** File descriptor to write to; default 2 (stderr). */
  readonly destination?: number;
  /** Write somewhere else entirely (tests); overrides destination and pretty. */
  readonly stream?: DestinationStream;
}

const STDERR_FD = 2;

/** Paths whose whole value is a secret. */
const SECRET_PATHS = [
  'password',
  'token',
  'secret',
  'authorization',
  'cookie',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  '*.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

/** URL-valued fields: credentials removed, host kept (it is what an operator needs to see). */
const URL_PATH_KEYS = new Set(['natsUrl', 'databaseUrl', 'redisUrl', 'krakenUrl', 'url']);
const URL_PATHS = [...URL_PATH_KEYS].flatMap((k) => [k, `*.${k}`]);

function censor(value: unknown, path: string[]): unknown {
  const last = path[path.length - 1];
  if (last !== undefined && URL_PATH_KEYS.has(last)) {
    return typeof value === 'string' ? redactUrlCredentials(value) : value;
  }
  return '[Redacted]';
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  const fd = opts.destination ?? STDERR_FD;
  const options: LoggerOptions = {
    level: opts.level,
    redact: { paths: [...SECRET_PATHS, ...URL_PATHS], censor },
  };
  if (opts.name !== undefined) options.name = opts.name;
  // In a worker thread the pid is shared with the main thread; the thread id tells them apart.
  if (!isMainThread) options.base = { pid: process.pid, hostname: hostname(), thread: threadId };

  if (opts.stream !== undefined) return pino(options, opts.stream);

  // isatty(fd) asks the OS about the real descriptor, so it is also right in a worker
  // thread, where process.stderr is a pipe to the main thread.
  const pretty = opts.pretty ?? isatty(fd);
  const stream = pretty
    ? pinoPretty({ destination: fd, sync: true, colorize: isatty(fd), translateTime: 'SYS:HH:MM:ss.l' })
    : pino.destination({ dest: fd, sync: true });
  return pino(options, stream);
}
