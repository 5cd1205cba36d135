/**
 * Every NATS subject (and, later, WebSocket channel and Redis key) is built here and nowhere
 * else. Subjects are versioned; symbols are written BASE-QUOTE (NATS tokens cannot hold '/').
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
