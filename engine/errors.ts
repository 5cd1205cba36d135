/**
 * The one error catalogue. Every failure the engine reports to an operator carries one of
 * these stable codes; docs/errors.md explains each one and what to do about it, and
 * test/errors-doc.test.ts keeps the two in step.
 *
 * Three kinds of failure, three mechanisms (see /docs/errors.md):
 *  - configuration / programmer errors throw an AetherError at start-up;
 *  - business rejections are values or events that carry a code from this table;
 *  - broken invariants crash the worker and the supervisor restarts it.
 */

export const ErrorCode = {
  E_CONFIG: 'E_CONFIG',
  E_SIM_IN_PRODUCTION: 'E_SIM_IN_PRODUCTION',
  E_KRAKEN_UNREACHABLE: 'E_KRAKEN_UNREACHABLE',
  E_SUBSCRIBE_REJECTED: 'E_SUBSCRIBE_REJECTED',
  E_CHECKSUM_MISMATCH: 'E_CHECKSUM_MISMATCH',
  E_MALFORMED_FRAME: 'E_MALFORMED_FRAME',
  E_PRECISION: 'E_PRECISION',
  E_UNKNOWN_SYMBOL: 'E_UNKNOWN_SYMBOL',
  E_MAILBOX_OVERFLOW: 'E_MAILBOX_OVERFLOW',
  E_WORKER_CRASHED: 'E_WORKER_CRASHED',
  E_UWS_NATIVE: 'E_UWS_NATIVE',
  E_REPLAY_INPUT: 'E_REPLAY_INPUT',
  E_CONNECT_BUDGET: 'E_CONNECT_BUDGET',
  E_GATEWAY_LISTEN: 'E_GATEWAY_LISTEN',
  E_DB: 'E_DB',
  E_DB_WRITE: 'E_DB_WRITE',
  E_RECORDS_PUBLISH: 'E_RECORDS_PUBLISH',
  E_RECORDS_DROPPED: 'E_RECORDS_DROPPED',
  E_REDIS: 'E_REDIS',
  E_PERSISTENCE: 'E_PERSISTENCE',
  E_NATS: 'E_NATS',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** One line per code; the long form (meaning and operator action) is docs/errors.md. */
export const errorCatalogue: Readonly<Record<ErrorCode, string>> = Object.freeze({
  E_CONFIG: 'The configuration is invalid; every offending setting is listed.',
  E_SIM_IN_PRODUCTION: 'Simulation mode was requested while AETHER_ENV=production.',
  E_KRAKEN_UNREACHABLE: 'The Kraken WebSocket endpoint could not be reached or kept dropping the connection.',
  E_SUBSCRIBE_REJECTED: 'Kraken answered a subscribe request with success=false.',
  E_CHECKSUM_MISMATCH: "The local order book's CRC32 differs from Kraken's checksum; the book is resynchronised.",
  E_MALFORMED_FRAME: 'A feed or replay frame could not be parsed or did not match the expected schema.',
  E_PRECISION: 'A price or quantity has more decimals than the instrument precision allows, or the precision is unknown.',
  E_UNKNOWN_SYMBOL: 'A symbol is not a known, online Kraken spot pair.',
  E_MAILBOX_OVERFLOW: "An actor's bounded mailbox was full and its overflow policy dropped or conflated messages.",
  E_WORKER_CRASHED: 'A worker thread exited unexpectedly; the supervisor restarts it.',
  E_UWS_NATIVE: 'The uWebSockets.js native binary did not load (the slow JS fallback is refused).',
  E_REPLAY_INPUT: 'The replay/record file is missing, unreadable or not a valid recording.',
  E_CONNECT_BUDGET: 'Reconnecting now would exceed the Kraken connection budget; the attempt is delayed.',
  E_GATEWAY_LISTEN: 'The HTTP/WebSocket gateway could not listen on PORT (in use or not permitted).',
  E_DB: 'PostgreSQL could not be reached or the migrations could not run; retried in the background.',
  E_DB_WRITE: 'A writer batch failed on a database error; the records stay in JetStream or the queue and are retried.',
  E_RECORDS_PUBLISH: 'A record batch could not be stored in the JetStream RECORDS stream; it is retried with the same message id.',
  E_RECORDS_DROPPED: 'A record was dropped because the bounded record queue was full (the documented spill policy).',
  E_REDIS: 'Redis is unavailable; the latest state is kept in memory (one value per key) and re-asserted when it returns.',
  E_PERSISTENCE: 'Persistence (database, Redis, record path) could not start; the engine runs without it.',
  E_NATS: 'A JetStream stream operation (backup, restore) failed.',
});

export class AetherError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AetherError';
    this.code = code;
  }
}

/** One problem found while validating configuration. `key` is what the operator wrote:
 * an environment variable, a config-file key or a command-line flag. */
export interface ConfigViolation {
  readonly key: string;
  readonly message: string;
  readonly code: typeof ErrorCode.E_CONFIG | typeof ErrorCode.E_SIM_IN_PRODUCTION;
}

/**
 * Thrown by loadConfig with every violation found, never just the first.
 * `code` is E_SIM_IN_PRODUCTION when that safety rule is among the violations (it is the
 * one an operator must not miss), otherwise E_CONFIG.
 */
export class ConfigError extends AetherError {
  readonly violations: readonly ConfigViolation[];

  constructor(violations: readonly ConfigViolation[]) {
    const code = violations.some((v) => v.code === ErrorCode.E_SIM_IN_PRODUCTION)
      ? ErrorCode.E_SIM_IN_PRODUCTION
      : ErrorCode.E_CONFIG;
    const n = violations.length;
    const lines = violations.map((v) => `  - ${v.key}: ${v.message}`);
    super(code, `invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.violations = Object.freeze(violations.map((v) => Object.freeze({ ...v })));
  }
}

export function isAetherError(err: unknown): err is AetherError {
  return err instanceof AetherError;
}
