/**
 * Gateway authentication and origin policy.
 *
 * Tokens come from AETHER_GATEWAY_TOKENS (hashed while the configuration is loaded) and/or
 * the file AETHER_GATEWAY_TOKENS_FILE (one token per line, `#` comments; re-read when it
 * changes, so a removed token closes the sockets that used it). Only SHA-256 digests are kept
 * in memory, presented tokens are hashed and compared in constant time, and nothing here ever
 * logs a token: log lines name the file and line numbers only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../config.js';
import { ConfigError, ErrorCode, type ConfigViolation } from '../errors.js';

/** Shortest accepted token: shorter secrets are guessable. */
export const MIN_TOKEN_LENGTH = 16;

export function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The set of valid token digests. */
export class TokenSet {
  private digests: Buffer[];

  constructor(digests: readonly Buffer[]) {
    this.digests = [...digests];
  }

  get size(): number {
    return this.digests.length;
  }

  replace(digests: readonly Buffer[]): void {
    this.digests = [...digests];
  }

  /**
   * The digest of `token` when it is valid, else null. Every stored digest is compared (no
   * early exit) with timingSafeEqual, so the time taken says nothing about which one matched.
   */
  match(token: string | null): string | null {
    if (token === null || token.length === 0 || token.length > 4096) return null;
    const d = sha256(token);
    let hit = false;
    for (const x of this.digests) if (timingSafeEqual(x, d)) hit = true;
    return hit ? d.toString('hex') : null;
  }

  hasDigest(hex: string): boolean {
    const d = Buffer.from(hex, 'hex');
    let hit = false;
    for (const x of this.digests) if (x.length === d.length && timingSafeEqual(x, d)) hit = true;
    return hit;
  }
}

export interface GatewayAuth {
  /** null: authentication off (only outside production, with no token configured). */
  readonly tokens: TokenSet | null;
  readonly tokensFile: string | null;
  /** Allowed browser origins, normalised (`scheme://host[:port]`, lowercase). */
  readonly origins: ReadonlySet<string>;
  /** Re-read the token file if it changed; returns true when the set changed. */
  reload(): boolean;
}

const TOKENS_KEY = 'AETHER_GATEWAY_TOKENS';
const TOKENS_FILE_KEY = 'AETHER_GATEWAY_TOKENS_FILE';

/**
 * Resolve the gateway's authentication from the configuration. Throws a ConfigError (before
 * any port is opened) when the token file is unreadable or malformed, or when the environment
 * is production and no token is configured: the production gateway never runs open.
 */
export function resolveAuth(config: Config): GatewayAuth {
  const violations: ConfigViolation[] = [];
  const fromEnv = config.gatewayTokens.map((hex) => Buffer.from(hex, 'hex'));
  const file = config.gatewayTokensFile;
  const fromFile = file === null ? [] : readTokenFile(file, violations);
  if (violations.length === 0 && config.env === 'production' && fromEnv.length + fromFile.length === 0) {
    violations.push({
      key: `${TOKENS_FILE_KEY} or ${TOKENS_KEY}`,
      message:
        'must be set when AETHER_ENV=production: the gateway requires bearer-token authentication in production ' +
        '(or turn the gateway off with AETHER_GATEWAY=false)',
      code: ErrorCode.E_CONFIG,
    });
  }
  if (violations.length > 0) throw new ConfigError(violations);
  // A configured token file turns authentication on even while it is empty: tokens added to
  // it later are enforced (and, empty, it admits nobody).
  const authOn = file !== null || fromEnv.length + fromFile.length > 0;
  const tokens = authOn ? new TokenSet([...fromEnv, ...fromFile]) : null;
  let mtimeMs = file === null ? 0 : fileMtime(file);
  return {
    tokens,
    tokensFile: file,
    origins: new Set(config.gatewayOrigins),
    reload(): boolean {
      if (file === null || tokens === null) return false;
      const m = fileMtime(file);
      if (m === mtimeMs) return false;
      mtimeMs = m;
      const v: ConfigViolation[] = [];
      const next = readTokenFile(file, v);
      // A file that became unreadable or malformed keeps the last good set (and is reported
      // by the caller); an empty file is honoured only if the environment still has tokens.
      if (v.length > 0 || fromEnv.length + next.length === 0) throw new ConfigError(v.length > 0 ? v : [{ key: TOKENS_FILE_KEY, message: `${file} holds no token; keeping the previous tokens`, code: ErrorCode.E_CONFIG }]);
      tokens.replace([...fromEnv, ...next]);
      return true;
    },
  };
}

function fileMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function readTokenFile(path: string, violations: ConfigViolation[]): Buffer[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    violations.push({ key: TOKENS_FILE_KEY, message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, code: ErrorCode.E_CONFIG });
    return [];
  }
  const out: Buffer[] = [];
  const short: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.length < MIN_TOKEN_LENGTH || /\s/.test(line)) short.push(i + 1);
    else out.push(sha256(line));
  });
  if (short.length > 0) {
    violations.push({
      key: TOKENS_FILE_KEY,
      message: `${path}: line(s) ${short.join(', ')} must each hold one token of at least ${MIN_TOKEN_LENGTH} characters without spaces`,
      code: ErrorCode.E_CONFIG,
    });
  }
  return out;
}

/** The token of a request: `Authorization: Bearer <token>`, else `?access_token=`. */
export function presentedToken(authorization: string, queryToken: string): string | null {
  if (authorization !== '') {
    const m = /^bearer\s+(\S+)\s*$/i.exec(authorization);
    return m?.[1] ?? null;
  }
  return queryToken === '' ? null : queryToken;
}

/** Normalise an origin for comparison: `scheme://host[:port]` in lowercase, or null. */
export function normaliseOrigin(origin: string): string | null {
  if (!URL.canParse(origin)) return null;
  const u = new URL(origin);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  return u.origin.toLowerCase();
}

/**
 * The origin policy, checked before any upgrade. A request without an Origin header is not
 * from a browser (browsers always send one on WebSocket handshakes) and is allowed: origin
 * checks protect browsers' ambient credentials, which other clients do not have. A browser
 * origin passes when it is in the allowlist or is this server's own origin (the served
 * dashboard: the Origin's host equals the Host header). `null` origins (sandboxed frames,
 * file://) never pass.
 */
export function originAllowed(origin: string, host: string, allowlist: ReadonlySet<string>): boolean {
  if (origin === '') return true;
  const o = normaliseOrigin(origin);
  if (o === null) return false;
  if (allowlist.has(o)) return true;
  return host !== '' && new URL(o).host === host.toLowerCase();
}
