/**
 * The records the engine keeps, as they travel (JSON arrays on the JetStream RECORDS stream,
 * or objects in the in-process queue) and as they land (one table per kind). Every record has
 * a natural id (`recordId`), which is its table's unique key: a record delivered twice, however
 * it happened, is inserted once. (The JetStream message id is per message of up to 100
 * records; see engine/persist/durable.ts.)
 */
import type { FeedGap, TradeRecord } from '../feed.js';

export type PersistRecord =
  | TradeRow
  | FillRow
  | PositionRow
  | EventRow
  | GapRow
  | BookRow
  | RiskRow
  | AccountRow
  | StateRow;

/** A trade as the feed carries it (engine/feed.ts TradeRecord). */
export interface TradeRow extends TradeRecord {
  readonly k: 'trade';
}
export interface FillRow {
  readonly k: 'fill';
  readonly fillId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly price: string;
  readonly qty: string;
  readonly fee: string;
  readonly orderId: string | null;
  /** Sequence of the fill in the FILLS stream. */
  readonly streamSeq: number;
  readonly timeUs: number;
}
/** An account's position in one instrument right after one fill. */
export interface PositionRow {
  readonly k: 'position';
  readonly account: string;
  readonly symbol: string;
  readonly fillId: string;
  readonly timeUs: number;
  readonly qty: string;
  readonly avgEntry: number;
  readonly realizedPnl: number;
  readonly feesPaid: number;
}
export interface EventRow {
  readonly k: 'event';
  readonly eventId: string;
  readonly account: string;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  readonly manual: boolean;
  readonly timeUs: number;
}
/** A feed gap as the feed carries it (engine/feed.ts FeedGap). */
export interface GapRow extends FeedGap {
  readonly k: 'gap';
}
export interface BookRow {
  readonly k: 'book';
  readonly symbol: string;
  readonly health: string;
  readonly timeUs: number;
  /** [price, qty] decimal text, best first. */
  readonly bids: readonly (readonly [string, string])[];
  readonly asks: readonly (readonly [string, string])[];
}
export interface RiskRow {
  readonly k: 'risk';
  readonly symbol: string;
  readonly health: string;
  readonly seq: number;
  readonly timeUs: number;
  readonly mid: number | null;
  readonly spreadBps: number | null;
  readonly volAnnual: number | null;
  readonly imbalance: number | null;
  readonly record: unknown;
}
export interface AccountRow {
  readonly k: 'account';
  readonly account: string;
  readonly state: string;
  readonly timeUs: number;
  readonly equity: number | null;
  readonly grossExposure: number | null;
  readonly netExposure: number | null;
  readonly var99: number | null;
  readonly record: unknown;
}
/** The risk host's checkpoint for warm restart (engine/persist/restore.ts). */
export interface StateRow {
  readonly k: 'state';
  readonly id: string;
  readonly fillSeq: number;
  readonly timeUs: number;
  readonly state: unknown;
}

export type RecordKind = PersistRecord['k'];
export const RECORD_KINDS: readonly RecordKind[] = ['trade', 'fill', 'position', 'event', 'gap', 'book', 'risk', 'account', 'state'];

/** Periodic snapshots: the first thing thinned when a queue runs full. */
export function isSnapshot(r: PersistRecord): boolean {
  return r.k === 'book' || r.k === 'risk' || r.k === 'account';
}

/**
 * The overflow policy of every record queue (docs/persistence.md): below half the capacity a
 * record is queued; from half full periodic snapshots are thinned; at capacity every record
 * is dropped.
 */
export function admit(r: PersistRecord, depth: number, capacity: number): 'queue' | 'thin' | 'drop' {
  if (depth >= capacity) return 'drop';
  if (depth >= capacity >>> 1 && isSnapshot(r)) return 'thin';
  return 'queue';
}

/** The record's natural id (JetStream message id). */
export function recordId(r: PersistRecord): string {
  switch (r.k) {
    case 'trade':
      return `trade:${r.symbol}:${r.tradeId}`;
    case 'fill':
      return `fill:${r.fillId}`;
    case 'position':
      return `pos:${r.account}:${r.symbol}:${r.fillId}`;
    case 'event':
      return `event:${r.eventId}`;
    case 'gap':
      return `gap:${r.symbol}:${r.startUs}`;
    case 'book':
      return `book:${r.symbol}:${r.timeUs}`;
    case 'risk':
      return `risk:${r.symbol}:${r.timeUs}`;
    case 'account':
      return `acct:${r.account}:${r.timeUs}`;
    case 'state':
      return `state:${r.id}:${r.fillSeq}:${r.timeUs}`;
  }
}

// ------------------------------------------------------------------ validation

const DECIMAL = /^\d{1,30}(\.\d{1,30})?$/;
const SIGNED_DECIMAL = /^-?\d{1,30}(\.\d{1,30})?$/;
/** 1970 … 9999 in µs. */
const MAX_US = 253_402_300_799_000_000;

const isText = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_US;
const isNum = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v));
const isPositiveDecimal = (v: unknown): boolean => typeof v === 'string' && DECIMAL.test(v) && /[1-9]/.test(v);

/**
 * Why a record cannot be stored, or null when it can. Checked before COPY, so one bad record
 * costs a dead letter, not a failed batch. (What slips through is caught by the database and
 * isolated by bisection in the writer.)
 */
export function invalidReason(x: unknown): string | null {
  if (typeof x !== 'object' || x === null) return 'not an object';
  const r = x as Record<string, unknown>;
  switch (r.k) {
    case 'trade':
      if (!isText(r.symbol, 32)) return 'symbol';
      if (typeof r.tradeId !== 'number' || !Number.isSafeInteger(r.tradeId) || r.tradeId < 0) return 'tradeId';
      if (r.side !== 'buy' && r.side !== 'sell') return 'side';
      if (!isPositiveDecimal(r.price)) return 'price';
      if (!isPositiveDecimal(r.qty)) return 'qty';
      if (!isTime(r.timeUs) || !isTime(r.recvUs)) return 'time';
      return null;
    case 'fill':
      if (!isText(r.fillId) || !isText(r.account, 64) || !isText(r.symbol, 32)) return 'id, account or symbol';
      if (r.side !== 'buy' && r.side !== 'sell') return 'side';
      if (!isPositiveDecimal(r.price)) return 'price';
      if (!isPositiveDecimal(r.qty)) return 'qty';
      if (typeof r.fee !== 'string' || !SIGNED_DECIMAL.test(r.fee)) return 'fee';
      if (r.orderId !== null && !isText(r.orderId)) return 'orderId';
      if (typeof r.streamSeq !== 'number' || !Number.isSafeInteger(r.streamSeq) || r.streamSeq < 0) return 'streamSeq';
      if (!isTime(r.timeUs)) return 'time';
      return null;
    case 'position':
      if (!isText(r.account, 64) || !isText(r.symbol, 32) || !isText(r.fillId)) return 'account, symbol or fillId';
      if (typeof r.qty !== 'string' || !SIGNED_DECIMAL.test(r.qty)) return 'qty';
      if (!isNum(r.avgEntry) || !isNum(r.realizedPnl) || !isNum(r.feesPaid) || r.avgEntry === null) return 'figures';
      if (!isTime(r.timeUs)) return 'time';
      return null;
    case 'event':
      if (!isText(r.eventId) || !isText(r.account, 64) || !isText(r.from, 32) || !isText(r.to, 32)) return 'event fields';
      if (typeof r.reason !== 'string' || typeof r.manual !== 'boolean') return 'reason or manual';
      if (!isTime(r.timeUs)) return 'time';
      return null;
    case 'gap':
      if (!isText(r.symbol, 32) || !isText(r.reason, 64)) return 'symbol or reason';
      if (!isTime(r.startUs) || !isTime(r.endUs) || (r.endUs as number) < (r.startUs as number)) return 'time';
      return null;
    case 'book': {
      if (!isText(r.symbol, 32) || !isText(r.health, 32)) return 'symbol or health';
      if (!isTime(r.timeUs)) return 'time';
      for (const side of [r.bids, r.asks]) {
        if (!Array.isArray(side) || side.length > 1000) return 'levels';
        for (const l of side) if (!Array.isArray(l) || !isPositiveDecimal(l[0]) || !isPositiveDecimal(l[1])) return 'level';
      }
      return null;
    }
    case 'risk':
      if (!isText(r.symbol, 32) || !isText(r.health, 32)) return 'symbol or health';
      if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq)) return 'seq';
      if (!isNum(r.mid) || !isNum(r.spreadBps) || !isNum(r.volAnnual) || !isNum(r.imbalance)) return 'figures';
      if (!isTime(r.timeUs)) return 'time';
      return null;
    case 'account':
      if (!isText(r.account, 64) || !isText(r.state, 32)) return 'account or state';
      if (!isNum(r.equity) || !isNum(r.grossExposure) || !isNum(r.netExposure) || !isNum(r.var99)) return 'figures';
      if (!isTime(r.timeUs)) return 'time';
      return null;
    case 'state':
      if (!isText(r.id, 128)) return 'id';
      if (typeof r.fillSeq !== 'number' || !Number.isSafeInteger(r.fillSeq) || r.fillSeq < 0) return 'fillSeq';
      if (!isTime(r.timeUs)) return 'time';
      if (typeof r.state !== 'object' || r.state === null) return 'state';
      return null;
    default:
      return 'unknown record kind';
  }
}

// ------------------------------------------------------------------ rows (COPY text format)

/** µs since the epoch → timestamptz text with microseconds (the second's text is cached). */
const tsCache = { sec: [Number.NaN, Number.NaN], text: ['', ''], next: 0 };
export function tsText(us: number): string {
  const sec = Math.floor(us / 1_000_000);
  let prefix: string;
  if (tsCache.sec[0] === sec) prefix = tsCache.text[0]!;
  else if (tsCache.sec[1] === sec) prefix = tsCache.text[1]!;
  else {
    prefix = new Date(sec * 1000).toISOString().slice(0, 19); // yyyy-mm-ddThh:mm:ss
    const slot = tsCache.next;
    tsCache.sec[slot] = sec;
    tsCache.text[slot] = prefix;
    tsCache.next = 1 - slot;
  }
  const micro = Math.floor(us - sec * 1_000_000);
  return `${prefix}.${String(micro).padStart(6, '0')}Z`;
}

const numText = (v: number | null): string | null => (v === null ? null : String(v));
const arr = (xs: readonly string[]): string => `{${xs.join(',')}}`;

export interface TableSpec {
  readonly table: string;
  readonly columns: readonly string[];
  /** How staged rows reach the table. */
  readonly conflict: 'nothing' | 'newest-state';
  row(r: PersistRecord): (string | null)[];
}

export const TABLES: { readonly [K in RecordKind]: TableSpec } = {
  trade: {
    table: 'trades',
    columns: ['time', 'symbol', 'trade_id', 'side', 'price', 'qty', 'recv_time'],
    conflict: 'nothing',
    row: (x) => {
      const r = x as TradeRow;
      return [tsText(r.timeUs), r.symbol, String(r.tradeId), r.side, r.price, r.qty, tsText(r.recvUs)];
    },
  },
  fill: {
    table: 'fills',
    columns: ['fill_id', 'time', 'account', 'symbol', 'side', 'price', 'qty', 'fee', 'order_id', 'stream_seq'],
    conflict: 'nothing',
    row: (x) => {
      const r = x as FillRow;
      return [r.fillId, tsText(r.timeUs), r.account, r.symbol, r.side, r.price, r.qty, r.fee, r.orderId, String(r.streamSeq)];
    },
  },
  position: {
    table: 'positions',
    columns: ['account', 'symbol', 'fill_id', 'time', 'qty', 'avg_entry', 'realized_pnl', 'fees_paid'],
    conflict: 'nothing',
    row: (x) => {
      const r = x as PositionRow;
      return [r.account, r.symbol, r.fillId, tsText(r.timeUs), r.qty, String(r.avgEntry), String(r.realizedPnl), String(r.feesPaid)];
    },
  },
  event: {
    table: 'risk_events',
    columns: ['event_id', 'time', 'account', 'from_state', 'to_state', 'reason', 'manual'],
    conflict: 'nothing',
    row: (x) => {
      const r = x as EventRow;
      return [r.eventId, tsText(r.timeUs), r.account, r.from, r.to, r.reason, r.manual ? 't' : 'f'];
    },
  },
  gap: {
    table: 'feed_gaps',
    columns: ['symbol', 'reason', 'start_time', 'end_time'],
    conflict: 'nothing',
    row: (x) => {
      const r = x as GapRow;
      return [r.symbol, r.reason, tsText(r.startUs), tsText(r.endUs)];
    },
  },
  book: {
    table: 'book_snapshots',
    columns: ['time', 'symbol', 'health', 'bid_prices', 'bid_qtys', 'ask_prices', 'ask_qtys'],
    conflict: 'nothing',
    row: (x) => {
      const r = x as BookRow;
      return [tsText(r.timeUs), r.symbol, r.health, arr(r.bids.map((l) => l[0])), arr(r.bids.map((l) => l[1])), arr(r.asks.map((l) => l[0])), arr(r.asks.map((l) => l[1]))];
    },
  },
  risk: {
    table: 'risk_snapshots',
    columns: ['time', 'symbol', 'health', 'seq', 'mid', 'spread_bps', 'vol_annual', 'imbalance', 'record'],
    conflict: 'nothing',
    row: (x) => {
      const r = x as RiskRow;
      return [tsText(r.timeUs), r.symbol, r.health, String(r.seq), numText(r.mid), numText(r.spreadBps), numText(r.volAnnual), numText(r.imbalance), JSON.stringify(r.record)];
    },
  },
  account: {
    table: 'account_snapshots',
    columns: ['time', 'account', 'state', 'equity', 'gross_exposure', 'net_exposure', 'var99', 'record'],
    conflict: 'nothing',
    row: (x) => {
      const r = x as AccountRow;
      return [tsText(r.timeUs), r.account, r.state, numText(r.equity), numText(r.grossExposure), numText(r.netExposure), numText(r.var99), JSON.stringify(r.record)];
    },
  },
  state: {
    table: 'engine_state',
    columns: ['id', 'fill_seq', 'time', 'state'],
    conflict: 'newest-state',
    row: (x) => {
      const r = x as StateRow;
      return [r.id, String(r.fillSeq), tsText(r.timeUs), JSON.stringify(r.state)];
    },
  },
};

/** One field in PostgreSQL's COPY text format. */
const NEEDS_ESCAPE = /[\\\n\r\t]/;
export function copyField(v: string | null): string {
  if (v === null) return '\\N';
  if (!NEEDS_ESCAPE.test(v)) return v;
  return v.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

export function copyLine(values: readonly (string | null)[]): string {
  let s = '';
  for (let i = 0; i < values.length; i++) s += (i === 0 ? '' : '\t') + copyField(values[i]!);
  return `${s}\n`;
}

/** Where records go: the JetStream publisher (durable path) or the in-process queue. */
export interface RecordSink {
  /** Queue a record; false when thinned or dropped under the overflow policy (counted). */
  offer(r: PersistRecord): boolean;
  /** Resolves once the record is durably accepted (JetStream: stored in the stream). */
  store(r: PersistRecord): Promise<void>;
}
