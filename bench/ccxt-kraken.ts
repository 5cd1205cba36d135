/**
 * CCXT Pro's Kraken WebSocket v2 order-book handler (ccxt 4.5.84), fed without a network, for
 * the peer comparison. Set up as below (ccxt's checksum option needs a one-line patch to run at all):
 *
 * - `new ccxt.pro.kraken(...)`, `ex.client(ex.urls.api.ws.publicV2)` builds the WsClient
 *   object without connecting; frames go in as text through `client.onMessage({ data })`,
 *   i.e. ccxt's own regex + JSON.parse → `handleMessage` → `handleOrderBook`.
 * - checksum ON needs ccxt's option `watchOrderBook.checksum: true` plus a one-line patch,
 *   because `formatNumber` calls `.split` on the numbers its own book stores
 *   (`TypeError: data.split is not a function` on every message otherwise):
 *   `formatNumber(d) → original(numberToString(d))`. ccxt formats parsed numbers in their
 *   shortest form, so it only agrees with Kraken on `ccxtCompat` streams (no trailing zeros).
 * - checksum OFF is an unpatched instance with ccxt's default options (the default is off).
 *
 * No `watchOrderBook()` future is pending, so `client.resolve` finds nothing to settle: real
 * ccxt use adds promise resolution and the consumer's own work on top of these figures.
 *
 * Verification: a checksum mismatch makes ccxt delete the book and store a ChecksumError in
 * `client.rejections`; a handler exception is routed to `client.reject(error)` and silently
 * dropped when no future is pending, so `reject` is wrapped to count those too (the wrapper
 * only runs on errors).
 */
import ccxt from 'ccxt';

/** The parts of ccxt's runtime objects used here (ccxt's typings are broader and looser). */
interface CcxtClient {
  onMessage(event: { data: string }): void;
  rejections: Record<string, unknown>;
  reject(result: unknown, messageHash?: string): unknown;
}
interface CcxtOrderBook {
  asks: number[][];
  bids: number[][];
}
interface CcxtKrakenPro {
  urls: { api: { ws: { publicV2: string } } };
  orderbooks: Record<string, CcxtOrderBook | undefined>;
  formatNumber(d: unknown): string;
  numberToString(d: unknown): string;
  client(url: string): CcxtClient;
  close(): Promise<void>;
}

export interface CcxtKrakenFeed {
  readonly checksum: boolean;
  /** One frame as received (text). */
  onText(text: string): void;
  /** Errors seen so far: checksum mismatches (also kept in client.rejections) and handler exceptions. */
  errors(): number;
  /** The first error ccxt raised (later ones usually follow from it). */
  firstError(): string;
  /** ccxt's book for `symbol`, or undefined (never built, or deleted after a mismatch). */
  book(symbol: string): CcxtOrderBook | undefined;
  close(): Promise<void>;
}

export function createCcxtKraken(opts: { checksum: boolean }): CcxtKrakenFeed {
  const Kraken = (ccxt as unknown as { pro: { kraken: new (config: object) => CcxtKrakenPro } }).pro.kraken;
  const ex = opts.checksum ? new Kraken({ options: { watchOrderBook: { checksum: true } } }) : new Kraken({});
  if (opts.checksum) {
    // The minimal patch that lets checksum:true run at all (formatNumber expects strings).
    const orig = ex.formatNumber;
    ex.formatNumber = function (this: CcxtKrakenPro, d: unknown): string {
      return orig.call(this, this.numberToString(d));
    };
  }
  const client = ex.client(ex.urls.api.ws.publicV2);
  let thrown = 0;
  let first = '';
  const reject = client.reject;
  client.reject = function (this: CcxtClient, result: unknown, messageHash?: string): unknown {
    thrown++;
    if (first === '') first = result instanceof Error ? `${result.constructor.name}: ${result.message}` : String(result);
    return reject.call(this, result, messageHash);
  };
  return {
    checksum: opts.checksum,
    onText: (text) => client.onMessage({ data: text }),
    errors: () => Math.max(thrown, Object.keys(client.rejections).length),
    firstError: () => {
      if (first !== '') return first;
      const stored = Object.values(client.rejections)[0];
      return stored instanceof Error ? `${stored.constructor.name}: ${stored.message}` : stored === undefined ? '' : String(stored);
    },
    book: (symbol) => ex.orderbooks[symbol],
    close: () => ex.close(),
  };
}

/**
 * Compare ccxt's book with the generator's visible book (wire texts, best first). Prices and
 * quantities are compared as the doubles JSON.parse makes of the wire text, i.e. exactly what
 * ccxt stores. Returns a description of the first difference, or null.
 */
export function diffCcxtBook(
  book: CcxtOrderBook | undefined,
  expected: { bids: readonly { price: string; qty: string }[]; asks: readonly { price: string; qty: string }[] },
): string | null {
  if (book === undefined) return 'ccxt has no book (deleted after a checksum mismatch?)';
  for (const side of ['bids', 'asks'] as const) {
    const got = book[side];
    const want = expected[side];
    if (got.length !== want.length) return `${side}: ${got.length} levels, expected ${want.length}`;
    for (let i = 0; i < want.length; i++) {
      const g = got[i]!;
      const w = want[i]!;
      if (g[0] !== Number(w.price) || g[1] !== Number(w.qty)) return `${side}[${i}]: ${g[0]} ${g[1]}, expected ${w.price} ${w.qty}`;
    }
  }
  return null;
}
