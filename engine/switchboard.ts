/**
 * Every NATS subject, JetStream stream and Redis key is built here and nowhere else (the
 * WebSocket stream's channel names are in engine/gateway/protocol.ts). Subjects are versioned; symbols are written BASE-QUOTE (NATS tokens cannot hold '/').
 *
 *   [<namespace>.]risk.v1.kraken.<BASE-QUOTE>     market risk per instrument (msgpack)
 */
export const VENUE = 'kraken';

/** `BTC/USD` → `BTC-USD`. */
export function symbolToken(symbol: string): string {
  return symbol.replace('/', '-');
}

/** `BTC-USD` → `BTC/USD`. */
export function tokenToSymbol(token: string): string {
  return token.replace('-', '/');
}

function ns(namespace: string, subject: string): string {
  return namespace === '' ? subject : `${namespace}.${subject}`;
}

/** Market risk of one instrument. */
export function riskSubject(namespace: string, symbol: string): string {
  return ns(namespace, `risk.v1.${VENUE}.${symbolToken(symbol)}`);
}

/** Wildcard for every instrument's market risk. */
export function riskWildcard(namespace: string): string {
  return ns(namespace, `risk.v1.${VENUE}.*`);
}

// ---- risk model: fills in, checks, admin, events, portfolio out ----
//
//   [<ns>.]fills.v1.<account>            fills from trading systems (JetStream stream FILLS)
//   [<ns>.]deadletter.v1.fills           refused fills with the reason (JetStream stream DEADLETTER)
//   [<ns>.]pretrade.v1.check             pre-trade check, request/reply (JSON)
//   [<ns>.]pretrade.v1.release           release an accepted order's reservation (JSON)
//   [<ns>.]admin.v1.<command>            halt · release · limits · positions, request/reply (JSON, token)
//   [<ns>.]events.v1.state.<account>     trading-state transitions (JetStream stream EVENTS, deduplicated)
//   [<ns>.]portfolio.v1.<account>        account risk (msgpack)

/** NATS subject tokens cannot hold '.', '*', '>' or spaces; accounts are restricted to this. */
export const ACCOUNT_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function fillsSubject(namespace: string, account: string): string {
  return ns(namespace, `fills.v1.${account}`);
}
export function fillsWildcard(namespace: string): string {
  return ns(namespace, 'fills.v1.*');
}
export function deadLetterSubject(namespace: string, kind: 'fills'): string {
  return ns(namespace, `deadletter.v1.${kind}`);
}
export function preTradeSubject(namespace: string): string {
  return ns(namespace, 'pretrade.v1.check');
}
/** Release an accepted order's reservation (cancelled, rejected downstream, expired upstream). */
export function releaseOrderSubject(namespace: string): string {
  return ns(namespace, 'pretrade.v1.release');
}
export function adminSubject(namespace: string, command: 'halt' | 'release' | 'limits' | 'positions'): string {
  return ns(namespace, `admin.v1.${command}`);
}
export function stateEventSubject(namespace: string, account: string): string {
  return ns(namespace, `events.v1.state.${account}`);
}
export function eventsWildcard(namespace: string): string {
  return ns(namespace, 'events.v1.>');
}
export function portfolioSubject(namespace: string, account: string): string {
  return ns(namespace, `portfolio.v1.${account}`);
}

/** JetStream stream names (no dots allowed): the namespace joins with '_'. */
export function streamName(namespace: string, stream: 'FILLS' | 'DEADLETTER' | 'EVENTS'): string {
  return namespace === '' ? `AETHER_${stream}` : `AETHER_${namespace.replace(/[^A-Za-z0-9_-]/g, '_')}_${stream}`;
}

export function fillsConsumerName(namespace: string): string {
  return namespace === '' ? 'aether-fills' : `aether-fills-${namespace.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

// ---- persistence ----
//
//   [<ns>.]records.v1.<kind>     records to keep: trade · fill · position · event · gap ·
//                                book · risk · account · state (JetStream stream RECORDS, JSON)

export function recordsSubject(namespace: string, kind: string): string {
  return ns(namespace, `records.v1.${kind}`);
}
export function recordsWildcard(namespace: string): string {
  return ns(namespace, 'records.v1.*');
}
export function recordsStreamName(namespace: string): string {
  return namespace === '' ? 'AETHER_RECORDS' : `AETHER_${namespace.replace(/[^A-Za-z0-9_-]/g, '_')}_RECORDS`;
}
/** The durable consumer every writer replica shares. */
export function writerConsumerName(namespace: string): string {
  return namespace === '' ? 'aether-writer' : `aether-writer-${namespace.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** Redis keys: `<prefix>aether:v1:<kind>:<id>`. */
export function redisKey(prefix: string, kind: 'risk' | 'top' | 'account' | 'engine', id: string): string {
  return `${prefix}aether:v1:${kind}:${id}`;
}
