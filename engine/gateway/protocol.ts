/**
 * The `/v1/stream` wire protocol (docs/streaming.md): channel names, control messages, error
 * codes, close codes, and the encoders of server → client messages in JSON text or msgpack
 * binary. Channel names are built and parsed here and nowhere else.
 *
 * Data messages are built per recipient from a per-update part that is encoded once for all
 * recipients (`Outgoing`) and a small per-client envelope (seq, conflation): an update fanned
 * out to a thousand clients is serialised once, not a thousand times.
 */
import { Packr } from 'msgpackr';
import { ACCOUNT_RE } from '../switchboard.js';

export const PROTOCOL_VERSION = 1;

export const ChannelKind = {
  RISK: 'risk',
  BOOK: 'book',
  TRADES: 'trades',
  PORTFOLIO: 'portfolio',
  EVENTS: 'events',
  INSTRUMENTS: 'instruments',
} as const;
export type ChannelKind = (typeof ChannelKind)[keyof typeof ChannelKind];

/** Kinds whose channels carry a key (`risk.<SYMBOL>`) and accept the `.*` wildcard. */
const KEYED: ReadonlySet<string> = new Set([ChannelKind.RISK, ChannelKind.BOOK, ChannelKind.TRADES, ChannelKind.PORTFOLIO]);
const SYMBOL_KINDS: ReadonlySet<string> = new Set([ChannelKind.RISK, ChannelKind.BOOK, ChannelKind.TRADES]);

/** `BTC/USD`: the engine's symbol form (AETHER_SYMBOLS). */
export const SYMBOL_RE = /^[A-Z0-9]{1,16}\/[A-Z0-9]{1,16}$/;
export const MAX_CHANNEL_LENGTH = 128;

export function riskChannel(symbol: string): string {
  return `${ChannelKind.RISK}.${symbol}`;
}
export function bookChannel(symbol: string): string {
  return `${ChannelKind.BOOK}.${symbol}`;
}
export function tradesChannel(symbol: string): string {
  return `${ChannelKind.TRADES}.${symbol}`;
}
export function portfolioChannel(account: string): string {
  return `${ChannelKind.PORTFOLIO}.${account}`;
}
export const EVENTS_CHANNEL = ChannelKind.EVENTS;
export const INSTRUMENTS_CHANNEL = ChannelKind.INSTRUMENTS;
export function wildcardChannel(kind: ChannelKind): string {
  return `${kind}.*`;
}
export function channelOf(kind: ChannelKind, key: string | null): string {
  return key === null ? kind : `${kind}.${key}`;
}

export interface ParsedChannel {
  readonly name: string;
  readonly kind: ChannelKind;
  /** Symbol or account; null for `events`, `instruments` and wildcards. */
  readonly key: string | null;
  readonly wildcard: boolean;
}

export interface ProtocolError {
  readonly code: ErrorCode;
  readonly reason: string;
}

/** Parse a channel name as the client wrote it; syntax only (whether it exists is the hub's call). */
export function parseChannel(name: unknown): ParsedChannel | ProtocolError {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_CHANNEL_LENGTH) {
    return { code: ErrorCode.BAD_REQUEST, reason: `a channel must be a non-empty string of at most ${MAX_CHANNEL_LENGTH} characters` };
  }
  if (name === ChannelKind.EVENTS || name === ChannelKind.INSTRUMENTS) return { name, kind: name, key: null, wildcard: false };
  const dot = name.indexOf('.');
  const kind = dot < 0 ? name : name.slice(0, dot);
  if (!KEYED.has(kind)) {
    return { code: ErrorCode.UNKNOWN_CHANNEL, reason: `unknown channel ${JSON.stringify(name)}: channels are risk.<SYMBOL>, book.<SYMBOL>, trades.<SYMBOL>, portfolio.<ACCOUNT> (each also with .*), events and instruments` };
  }
  const key = dot < 0 ? '' : name.slice(dot + 1);
  const k = kind as ChannelKind;
  if (key === '*') return { name, kind: k, key: null, wildcard: true };
  if (SYMBOL_KINDS.has(kind)) {
    if (!SYMBOL_RE.test(key)) return { code: ErrorCode.UNKNOWN_CHANNEL, reason: `unknown channel ${JSON.stringify(name)}: the symbol must be written BASE/QUOTE in capitals, e.g. ${kind}.BTC/USD, or ${kind}.*` };
  } else if (!ACCOUNT_RE.test(key)) {
    return { code: ErrorCode.UNKNOWN_CHANNEL, reason: `unknown channel ${JSON.stringify(name)}: the account must be 1–64 of A-Z a-z 0-9 _ -, or portfolio.*` };
  }
  return { name, kind: k, key, wildcard: false };
}

export function isProtocolError(v: unknown): v is ProtocolError {
  return typeof v === 'object' && v !== null && 'code' in v && 'reason' in v;
}

/** `code` of an `{"type":"error"}` reply. */
export const ErrorCode = {
  /** Not JSON, not an object, unknown `op`, or a field of the wrong type. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** The channel name is not one this protocol knows, or names an unknown instrument. */
  UNKNOWN_CHANNEL: 'UNKNOWN_CHANNEL',
  /** A valid channel this gateway cannot serve (book and trades in the NATS-fed gateway). */
  UNAVAILABLE: 'UNAVAILABLE',
  /** The subscription would exceed the per-connection channel limit. */
  TOO_MANY_CHANNELS: 'TOO_MANY_CHANNELS',
  /** The control-message rate limit refused this message (it was not processed). */
  RATE_LIMITED: 'RATE_LIMITED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes sent by the gateway. Refusals before the upgrade are HTTP statuses
 * (`HttpRefusal`), so no socket is ever opened for them.
 */
export const CloseCode = {
  /** The server is shutting down (or the gateway stopped). */
  GOING_AWAY: 1001,
  /** An inbound message larger than AETHER_GATEWAY_MAX_MESSAGE_BYTES. */
  MESSAGE_TOO_BIG: 1009,
  /** Slow consumer: the send buffer passed AETHER_GATEWAY_CLOSE_BYTES. */
  SLOW_CONSUMER: 4001,
  /** Control-message flood: the rate limit's debt passed the burst. */
  RATE_LIMITED: 4008,
  /** No message or pong from the client within AETHER_GATEWAY_IDLE_TIMEOUT_SEC. */
  IDLE_TIMEOUT: 4010,
  /** The connection's token was removed from the token file. */
  TOKEN_REVOKED: 4401,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** HTTP statuses of refused upgrades and REST requests. */
export const HttpRefusal = {
  UNAUTHORIZED: 401,
  ORIGIN: 403,
  TOO_MANY_CONNECTIONS: 429,
  SERVER_FULL: 503,
} as const;

/** `reason` label of aether_gateway_refusals_total. */
export const RefusalReason = {
  UNAUTHORIZED: 'unauthorized',
  ORIGIN: 'origin',
  IP_LIMIT: 'ip_limit',
  SERVER_FULL: 'server_full',
  MESSAGE_TOO_BIG: 'message_too_big',
  RATE_LIMITED: 'rate_limited',
  IDLE_TIMEOUT: 'idle_timeout',
  TOKEN_REVOKED: 'token_revoked',
  BAD_ENCODING: 'bad_encoding',
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

export const Encoding = { JSON: 'json', MSGPACK: 'msgpack' } as const;
export type Encoding = (typeof Encoding)[keyof typeof Encoding];

// ---------------------------------------------------------------------------------------
// Encoders

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** Control messages (hello, subscribed, error, pong): rare, encoded generically. */
export function encodeControl(msg: Record<string, unknown>, encoding: Encoding): string | Buffer {
  return encoding === Encoding.JSON ? JSON.stringify(msg) : packr.pack(msg);
}

export function decodeControl(data: ArrayBuffer, isBinary: boolean): unknown {
  if (isBinary) return packr.unpack(new Uint8Array(data));
  return JSON.parse(Buffer.from(data).toString('utf8'));
}

/**
 * One update's channel and data, each encoded lazily at most once per encoding, shared by
 * every recipient.
 */
export class Outgoing {
  private json: string | null = null;
  private pack: Buffer | null = null;
  private channelJson: string | null = null;
  private channelPack: Buffer | null = null;
  /** The JSON envelope of an unconflated update around `seq`, as bytes (see encodeUpdateJson). */
  private head: Buffer | null = null;
  private tail: Buffer | null = null;

  constructor(
    readonly channel: string,
    readonly data: unknown,
    readonly stale: boolean,
  ) {}

  dataJson(): string {
    return (this.json ??= JSON.stringify(this.data) ?? 'null');
  }
  dataPack(): Buffer {
    return (this.pack ??= packr.pack(this.data));
  }
  channelJsonText(): string {
    return (this.channelJson ??= JSON.stringify(this.channel));
  }
  channelPackBytes(): Buffer {
    return (this.channelPack ??= packStr(this.channel));
  }

  /**
   * `{"type":"update",…,"seq":<seq>,…,"conflated":false,"skipped":0,"data":…}` written into
   * `scratch` (grown when too small); returns the byte length. The parts around `seq` are
   * encoded once per update, so a fan-out to many clients only copies bytes: no string is
   * built or converted per client.
   */
  encodeUpdateJson(seq: number, simulated: boolean, scratch: { buf: Buffer }): number {
    this.head ??= Buffer.from(`{"type":"update","channel":${this.channelJsonText()},"seq":`, 'utf8');
    this.tail ??= Buffer.from(`,"stale":${this.stale},"simulated":${simulated},"conflated":false,"skipped":0,"data":${this.dataJson()}}`, 'utf8');
    const digits = String(seq);
    const len = this.head.length + digits.length + this.tail.length;
    if (scratch.buf.length < len) scratch.buf = Buffer.allocUnsafe(Math.max(len, scratch.buf.length * 2));
    const b = scratch.buf;
    let p = this.head.copy(b, 0);
    p += b.write(digits, p, 'latin1');
    p += this.tail.copy(b, p);
    return p;
  }
}

export type DataType = 'snapshot' | 'update';

/** `{"type","channel","seq","stale","simulated","conflated","skipped","data"}` as JSON text. */
export function envelopeJson(type: DataType, out: Outgoing, seq: number, simulated: boolean, conflated: boolean, skipped: number): string {
  return `{"type":"${type}","channel":${out.channelJsonText()},"seq":${seq},"stale":${out.stale},"simulated":${simulated},"conflated":${conflated},"skipped":${skipped},"data":${out.dataJson()}}`;
}

// Pre-encoded msgpack pieces of the envelope (a fixmap of 8 entries; keys as fixstr).
const K_TYPE = packStr('type');
const K_CHANNEL = packStr('channel');
const K_SEQ = packStr('seq');
const K_STALE = packStr('stale');
const K_SIMULATED = packStr('simulated');
const K_CONFLATED = packStr('conflated');
const K_SKIPPED = packStr('skipped');
const K_DATA = packStr('data');
const V_SNAPSHOT = packStr('snapshot');
const V_UPDATE = packStr('update');
const FIXMAP_8 = 0x88;
const TRUE = 0xc3;
const FALSE = 0xc2;

/** The same envelope as msgpack: a plain map any msgpack decoder reads. */
export function envelopePack(type: DataType, out: Outgoing, seq: number, simulated: boolean, conflated: boolean, skipped: number): Buffer {
  const channel = out.channelPackBytes();
  const data = out.dataPack();
  const typeBytes = type === 'snapshot' ? V_SNAPSHOT : V_UPDATE;
  const size =
    1 + K_TYPE.length + typeBytes.length + K_CHANNEL.length + channel.length + K_SEQ.length + 9 + K_STALE.length + 1 + K_SIMULATED.length + 1 +
    K_CONFLATED.length + 1 + K_SKIPPED.length + 9 + K_DATA.length + data.length;
  const b = Buffer.allocUnsafe(size);
  let p = 0;
  b[p++] = FIXMAP_8;
  p += K_TYPE.copy(b, p);
  p += typeBytes.copy(b, p);
  p += K_CHANNEL.copy(b, p);
  p += channel.copy(b, p);
  p += K_SEQ.copy(b, p);
  p = writeUint(b, p, seq);
  p += K_STALE.copy(b, p);
  b[p++] = out.stale ? TRUE : FALSE;
  p += K_SIMULATED.copy(b, p);
  b[p++] = simulated ? TRUE : FALSE;
  p += K_CONFLATED.copy(b, p);
  b[p++] = conflated ? TRUE : FALSE;
  p += K_SKIPPED.copy(b, p);
  p = writeUint(b, p, skipped);
  p += K_DATA.copy(b, p);
  p += data.copy(b, p);
  return b.subarray(0, p);
}

function packStr(s: string): Buffer {
  const text = Buffer.from(s, 'utf8');
  let head: Buffer;
  if (text.length < 32) head = Buffer.from([0xa0 | text.length]);
  else if (text.length < 256) head = Buffer.from([0xd9, text.length]);
  else {
    head = Buffer.alloc(3);
    head[0] = 0xda;
    head.writeUInt16BE(text.length, 1);
  }
  return Buffer.concat([head, text]);
}

function writeUint(b: Buffer, p: number, v: number): number {
  if (v < 0x80) {
    b[p++] = v;
  } else if (v <= 0xffff) {
    b[p++] = 0xcd;
    b.writeUInt16BE(v, p);
    p += 2;
  } else if (v <= 0xffffffff) {
    b[p++] = 0xce;
    b.writeUInt32BE(v, p);
    p += 4;
  } else {
    b[p++] = 0xcb;
    b.writeDoubleBE(v, p);
    p += 8;
  }
  return p;
}
