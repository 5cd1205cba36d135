/**
 * Kraken v2 frames that are not book/trade/ticker data: status, heartbeat,
 * method responses and the instrument channel. Shapes follow kraken-v2.md §2–§5
 * and §9.
 *
 * Responses put their keys in alphabetical order (`error`, `method`, `req_id`,
 * `result`, `success`, `symbol`, `time_in`, `time_out`), which is the order of
 * every documented and captured Kraken response (e.g. the pong and the
 * depth-error examples in §3/§5).
 */
import { isoMicros } from './clock.js';
import type { PairSpec } from './config.js';
import { pyPow10 } from './decimal.js';

/** Service version reported in `status` (R-DC captured 2.0.10). */
export const SERVICE_VERSION = '2.0.10';

export const HEARTBEAT_FRAME = '{"channel":"heartbeat"}';

/**
 * Deliberately broken frame for the `malformed` fault: a book update cut off
 * mid-object, i.e. what a client sees from a truncated write.
 */
export const MALFORMED_FRAME = '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":6500';

/**
 * `connection_id` is a raw unsigned 64-bit integer written as JSON number text.
 * Real ids exceed 2^53 (§5), so clients that JSON.parse it lose precision — the
 * simulator reproduces that on purpose.
 */
/** Kraken's engine states on the status channel. */
export type SystemStatus = 'online' | 'maintenance' | 'cancel_only' | 'post_only';

export function statusFrame(system: SystemStatus, connectionId: string): string {
  return '{"channel":"status","type":"update","data":[{"version":"' + SERVICE_VERSION + '","system":"' + system +
    '","api_version":"v2","connection_id":' + connectionId + '}]}';
}

export interface ResponseFields {
  readonly error?: string;
  /** Pre-serialised JSON object text. */
  readonly result?: string;
  readonly success: boolean;
  readonly symbol?: string;
}

/** A method response (§2). `reqId` is echoed only when the request carried one. */
export function responseFrame(method: string, reqId: number | undefined, timeIn: string, f: ResponseFields): string {
  let s = '{';
  if (f.error !== undefined) s += '"error":' + JSON.stringify(f.error) + ',';
  s += '"method":' + JSON.stringify(method);
  if (reqId !== undefined) s += ',"req_id":' + String(reqId);
  if (f.result !== undefined) s += ',"result":' + f.result;
  s += ',"success":' + String(f.success);
  if (f.symbol !== undefined) s += ',"symbol":' + JSON.stringify(f.symbol);
  s += ',"time_in":"' + timeIn + '","time_out":"' + isoMicros() + '"}';
  return s;
}

/** `{"method":"pong","req_id":N,"time_in":..,"time_out":..}` (§5). */
export function pongFrame(reqId: number | undefined, timeIn: string): string {
  let s = '{"method":"pong"';
  if (reqId !== undefined) s += ',"req_id":' + String(reqId);
  return s + ',"time_in":"' + timeIn + '","time_out":"' + isoMicros() + '"}';
}

const FIAT: ReadonlySet<string> = new Set(['USD', 'EUR', 'GBP', 'CAD', 'JPY', 'CHF', 'AUD']);

function assetJson(id: string): string {
  const fiat = FIAT.has(id);
  return '{"id":"' + id + '","status":"enabled","precision":' + (fiat ? 4 : 10) + ',"precision_display":' +
    (fiat ? 2 : 5) + ',"borrowable":' + String(fiat) + ',"collateral_value":' + (fiat ? '1.0' : '0.0') +
    ',"margin_rate":' + (fiat ? '0.025' : '0.0') + '}';
}

/** One pair object of the instrument channel (§9); increments in Kraken's `1e-08` form. */
export function pairJson(p: PairSpec): string {
  const inc = pyPow10(-p.pp);
  return '{"symbol":"' + p.symbol + '","base":"' + p.base + '","quote":"' + p.quote + '","status":"' + p.status +
    '","qty_precision":' + p.qp + ',"qty_increment":' + pyPow10(-p.qp) + ',"price_precision":' + p.pp +
    ',"cost_precision":5,"marginable":false,"has_index":true,"cost_min":0.5,"tick_size":' + inc +
    ',"price_increment":' + inc + ',"qty_min":' + pyPow10(p.qtyMinExp) + '}';
}

/** `{"channel":"instrument","type":"snapshot","data":{"assets":[...],"pairs":[...]}}` — `data` is an object here. */
export function instrumentSnapshotFrame(pairs: readonly PairSpec[]): string {
  const assets = new Set<string>();
  for (const p of pairs) {
    assets.add(p.base);
    assets.add(p.quote);
  }
  return '{"channel":"instrument","type":"snapshot","data":{"assets":[' + [...assets].map(assetJson).join(',') +
    '],"pairs":[' + pairs.map(pairJson).join(',') + ']}}';
}

export function instrumentUpdateFrame(pair: PairSpec): string {
  return '{"channel":"instrument","type":"update","data":{"assets":[],"pairs":[' + pairJson(pair) + ']}}';
}

/** Warning Kraken attaches to instrument acks (§9). */
export const INSTRUMENT_WARNINGS = '["tick_size is deprecated, use price_increment"]';
