/**
 * Simulated Kraken v2 exchange — tested at its message boundary with real `ws`
 * clients against a real server on an ephemeral port.
 *
 * The book checks use a deliberately naive reference book written here, from
 * kraken-v2.md §6–§7 only: wire text kept verbatim (numbers quoted before
 * JSON.parse), prices compared as scaled bigints, levels applied in wire order,
 * truncation to the subscribed depth, then the literal checksum rule (render
 * with the pair's precision, drop '.', drop leading zeros, CRC32 with a
 * table written here). The oracle is itself checked against Kraken's published
 * checksum examples first.
 */
import t from 'tap';
import WebSocket from 'ws';
import { defaultSimPairs, SimConfigError, startSimExchange } from '../adapters/kraken-sim/index.js';
import type { SimExchange, SimOptions, SimPair } from '../adapters/kraken-sim/index.js';

// ---------------------------------------------------------------- oracle

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (reflected 0xEDB88320, init/final 0xFFFFFFFF) of an ASCII string. */
function crc32Ascii(s: string): number {
  let c = 0xffffffff;
  for (let i = 0; i < s.length; i++) c = (CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Plain decimal text → integer count of 10^-precision units; null for anything else. */
function toScaled(text: string, precision: number): bigint | null {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (m === null) return null;
  let frac = m[2] ?? '';
  while (frac.length > precision && frac.endsWith('0')) frac = frac.slice(0, -1);
  if (frac.length > precision) return null;
  return BigInt((m[1] ?? '') + frac.padEnd(precision, '0'));
}

/** §7: render with exactly `precision` decimals, delete '.', delete leading zeros. */
function checksumToken(text: string, precision: number): string {
  const [intPart = '', frac = ''] = text.split('.');
  const fixed = precision === 0 ? intPart : intPart + '.' + frac.padEnd(precision, '0').slice(0, precision);
  return fixed.replace('.', '').replace(/^0+/, '');
}

/** JSON.parse that keeps `price` / `qty` number tokens as their wire text (§8 strategy 1). */
function parseLossless(text: string): any {
  return JSON.parse(text.replace(/"(price|qty)":(-?[0-9][0-9.eE+-]*)/g, '"$1":"$2"'));
}

interface Level { price: string; qty: string }

/** Exactly `precision` decimals (none and no '.' when precision is 0), no exponent. */
function hasExactPrecision(text: string, precision: number): boolean {
  return precision === 0 ? /^\d+$/.test(text) : new RegExp(`^\\d+\\.\\d{${precision}}$`).test(text);
}

class RefBook {
  readonly bids = new Map<bigint, Level>();
  readonly asks = new Map<bigint, Level>();
  constructor(readonly depth: number, readonly pp: number, readonly qp: number) {}

  key(l: Level): bigint {
    const k = toScaled(l.price, this.pp);
    if (k === null) throw new Error(`bad price ${l.price}`);
    return k;
  }

  apply(side: Map<bigint, Level>, l: Level): void {
    const q = toScaled(l.qty, this.qp);
    if (q === null) throw new Error(`bad qty ${l.qty}`);
    if (q === 0n) side.delete(this.key(l));
    else side.set(this.key(l), l);
  }

  /** Keys best first. */
  sorted(side: Map<bigint, Level>, isBid: boolean): bigint[] {
    return [...side.keys()].sort((a, b) => (a === b ? 0 : (a < b) === isBid ? 1 : -1));
  }

  truncate(): void {
    for (const [side, isBid] of [[this.bids, true], [this.asks, false]] as const) {
      if (side.size <= this.depth) continue;
      for (const k of this.sorted(side, isBid).slice(this.depth)) side.delete(k);
    }
  }

  checksum(): number {
    let s = '';
    for (const k of this.sorted(this.asks, false).slice(0, 10)) {
      const l = this.asks.get(k) as Level;
      s += checksumToken(l.price, this.pp) + checksumToken(l.qty, this.qp);
    }
    for (const k of this.sorted(this.bids, true).slice(0, 10)) {
      const l = this.bids.get(k) as Level;
      s += checksumToken(l.price, this.pp) + checksumToken(l.qty, this.qp);
    }
    return crc32Ascii(s);
  }

  worst(side: Map<bigint, Level>, isBid: boolean): bigint | null {
    const keys = this.sorted(side, isBid);
    return keys.length >= this.depth ? (keys[this.depth - 1] as bigint) : null;
  }

  crossed(): boolean {
    const bb = this.sorted(this.bids, true)[0];
    const ba = this.sorted(this.asks, false)[0];
    return bb !== undefined && ba !== undefined && bb >= ba;
  }
}

/** Verifies every book message of one symbol on one connection. */
class BookVerifier {
  book: RefBook | null = null;
  snapshots = 0;
  updates = 0;
  matched = 0;
  mismatches = 0;
  ignored = 0;
  replenishments = 0;
  repeatedChecksums = 0;
  crossed = 0;
  readonly problems: string[] = [];
  private lastChecksum = -1;

  constructor(readonly symbol: string, readonly depth: number, readonly pair: SimPair, readonly resync: (() => void) | null) {}

  private problem(p: string): void {
    if (this.problems.length < 10) this.problems.push(p);
  }

  private checkFormat(levels: Level[]): void {
    for (const l of levels) {
      if (!hasExactPrecision(l.price, this.pair.pricePrecision)) this.problem(`price text ${l.price}`);
      if (!hasExactPrecision(l.qty, this.pair.qtyPrecision)) this.problem(`qty text ${l.qty}`);
    }
  }

  onBook(type: string, d: { bids: Level[]; asks: Level[]; checksum: number; timestamp?: string }): void {
    this.checkFormat(d.bids);
    this.checkFormat(d.asks);
    if (typeof d.timestamp !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(d.timestamp)) {
      this.problem(`timestamp ${String(d.timestamp)}`);
    }
    if (type === 'snapshot') {
      this.snapshots++;
      const book = new RefBook(this.depth, this.pair.pricePrecision, this.pair.qtyPrecision);
      if (d.bids.length !== this.depth || d.asks.length !== this.depth) this.problem(`snapshot size ${d.bids.length}/${d.asks.length}`);
      for (const l of d.bids) book.apply(book.bids, l);
      for (const l of d.asks) book.apply(book.asks, l);
      // Snapshot arrays are best-first (§6).
      const bidKeys = d.bids.map((l) => book.key(l));
      const askKeys = d.asks.map((l) => book.key(l));
      if (bidKeys.some((k, i) => i > 0 && k >= (bidKeys[i - 1] as bigint))) this.problem('snapshot bids not descending');
      if (askKeys.some((k, i) => i > 0 && k <= (askKeys[i - 1] as bigint))) this.problem('snapshot asks not ascending');
      this.book = book;
      this.verify(d.checksum);
      return;
    }
    this.updates++;
    const book = this.book;
    if (book === null) {
      this.ignored++; // resynchronising: updates of the old subscription
      return;
    }
    if (d.bids.length + d.asks.length === 0) this.problem('empty update');
    for (const [levels, side, isBid] of [[d.bids, book.bids, true], [d.asks, book.asks, false]] as const) {
      const prevWorst = book.worst(side, isBid);
      let deletedInside = false;
      for (const l of levels) {
        const k = book.key(l);
        const isDelete = toScaled(l.qty, book.qp) === 0n;
        if (isDelete && side.has(k)) deletedInside = true;
        // Replenishment: after a delete inside the window, a level from beyond the previous worst.
        if (!isDelete && deletedInside && prevWorst !== null && (isBid ? k < prevWorst : k > prevWorst)) {
          this.replenishments++;
        }
        book.apply(side, l);
      }
    }
    book.truncate();
    if (d.checksum === this.lastChecksum) this.repeatedChecksums++;
    this.verify(d.checksum);
  }

  private verify(checksum: number): void {
    const book = this.book as RefBook;
    if (book.crossed()) this.crossed++;
    this.lastChecksum = checksum;
    if (book.checksum() === checksum) {
      this.matched++;
      return;
    }
    this.mismatches++;
    if (this.resync !== null) {
      this.book = null;
      this.resync();
    }
  }
}

// ---------------------------------------------------------------- clients

async function eventually<T>(probe: () => T | null | undefined | false, what: string, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

class Client {
  readonly ws: WebSocket;
  readonly frames: string[] = [];
  readonly times: number[] = [];
  closeCode: number | null = null;
  private readonly handlers: ((text: string) => void)[] = [];

  constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on('message', (data) => {
      const text = String(data);
      this.frames.push(text);
      this.times.push(performance.now());
      for (const h of this.handlers) h(text);
    });
    this.ws.on('close', (code) => {
      this.closeCode = code;
    });
    this.ws.on('error', () => {});
  }

  static async open(url: string): Promise<Client> {
    const c = new Client(url);
    await new Promise<void>((resolve, reject) => {
      c.ws.once('open', () => resolve());
      c.ws.once('error', reject);
    });
    return c;
  }

  send(req: unknown): void {
    this.ws.send(JSON.stringify(req));
  }

  onFrame(h: (text: string) => void): void {
    this.handlers.push(h);
  }

  /** Parsed frames (lossless numbers) from index `from`. */
  parsed(from = 0): any[] {
    return this.frames.slice(from).flatMap((f) => {
      try {
        return [parseLossless(f)];
      } catch {
        return [];
      }
    });
  }

  /** First parsed frame (from `from`) matching `pred`, waiting for it. */
  async next(pred: (m: any) => boolean, what: string, from = 0): Promise<any> {
    return eventually(() => this.parsed(from).find(pred), what);
  }

  close(): void {
    this.ws.terminate();
  }
}

const PAIRS = defaultSimPairs(8);

/**
 * Attach verifiers for `symbols` at `depth` to a client. With `resync`, a
 * mismatch makes the client unsubscribe and subscribe again (kraken-v2.md §12).
 */
function track(
  c: Client, symbols: string[], depth: number, resync = false, pairs: SimPair[] = PAIRS,
): Map<string, BookVerifier> {
  const pairOf = (symbol: string): SimPair => pairs.find((p) => p.symbol === symbol) as SimPair;
  const vs = new Map<string, BookVerifier>();
  for (const s of symbols) {
    const onMismatch = resync
      ? (): void => c.send({ method: 'unsubscribe', params: { channel: 'book', symbol: [s], depth } })
      : null;
    vs.set(s, new BookVerifier(s, depth, pairOf(s), onMismatch));
  }
  c.onFrame((text) => {
    if (text.startsWith('{"channel":"book"')) {
      const m = parseLossless(text);
      for (const d of m.data) vs.get(d.symbol)?.onBook(m.type, d);
    } else if (resync && text.startsWith('{"method":"unsubscribe"')) {
      const m = JSON.parse(text);
      if (m.success && vs.has(m.result.symbol)) {
        c.send({ method: 'subscribe', params: { channel: 'book', symbol: [m.result.symbol], depth } });
      }
    }
  });
  return vs;
}

/** The part of a tap test the helpers need. */
interface Teardown { teardown(fn: () => unknown): void }

async function sim(t: Teardown, opts: SimOptions = {}): Promise<SimExchange> {
  const s = await startSimExchange(opts);
  t.teardown(() => s.close());
  return s;
}

async function client(t: Teardown, s: SimExchange): Promise<Client> {
  const c = await Client.open(s.url);
  t.teardown(() => c.close());
  return c;
}

// ---------------------------------------------------------------- tests

t.test('checksum oracle - reproduces Kraken published checksums', async (t) => {
  // D-ck2 guide example (kraken-v2.md §7): BTC/USD, price 1 / qty 8 decimals.
  const guideAsks = ['45285.2:0.00100000', '45286.4:1.54571953', '45286.6:1.54571109', '45289.6:1.54560911',
    '45290.2:0.15890660', '45291.8:1.54553491', '45294.7:0.04454749', '45296.1:0.35380000', '45297.5:0.09945542',
    '45299.5:0.18772827'];
  const guideBids = ['45283.5:0.10000000', '45283.4:1.54582015', '45282.1:0.10000000', '45281.0:0.10000000',
    '45280.3:1.54592586', '45279.0:0.07990000', '45277.6:0.03310103', '45277.5:0.30000000', '45277.3:1.54602737',
    '45276.6:0.15445238'];
  const lv = (s: string): Level => ({ price: s.split(':')[0] as string, qty: s.split(':')[1] as string });
  const guide = new RefBook(10, 1, 8);
  for (const s of guideBids) guide.apply(guide.bids, lv(s));
  for (const s of guideAsks) guide.apply(guide.asks, lv(s));
  t.equal(guide.checksum(), 3310070434);

  // D-book MATIC/USD snapshot + update, printed without trailing zeros: only the
  // padded rendering reproduces them (price 4 / qty 8 decimals).
  const matic = parseLossless('{"channel":"book","type":"snapshot","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5666,"qty":4831.75496356},{"price":0.5665,"qty":6658.22734739},{"price":0.5664,"qty":18724.91513344},{"price":0.5663,"qty":11563.92544914},{"price":0.5662,"qty":14006.65365711},{"price":0.5661,"qty":17454.85679807},{"price":0.566,"qty":18097.1547},{"price":0.5659,"qty":33644.89175666},{"price":0.5658,"qty":148.3464},{"price":0.5657,"qty":606.70854372}],"asks":[{"price":0.5668,"qty":4410.79769741},{"price":0.5669,"qty":4655.40412487},{"price":0.567,"qty":49844.89424998},{"price":0.5671,"qty":24306.41678},{"price":0.5672,"qty":29783.25223475},{"price":0.5673,"qty":57234.71239278},{"price":0.5674,"qty":45065.04744},{"price":0.5675,"qty":5912.76380354},{"price":0.5676,"qty":42514.92434778},{"price":0.5677,"qty":36304.0847022}],"checksum":2439117997}]}');
  const book = new RefBook(10, 4, 8);
  for (const l of matic.data[0].bids) book.apply(book.bids, l);
  for (const l of matic.data[0].asks) book.apply(book.asks, l);
  t.equal(book.checksum(), 2439117997);
  book.apply(book.bids, { price: '0.5657', qty: '1098.3947558' });
  book.truncate();
  t.equal(book.checksum(), 2114181697);
});

t.test('connection - status frame first, then ping/pong and heartbeats', async (t) => {
  const s = await sim(t, { heartbeatMs: 50 });
  const c = await client(t, s);
  await eventually(() => c.frames.length >= 1, 'status');
  const status = JSON.parse(c.frames[0] as string);
  t.equal(status.channel, 'status');
  t.equal(status.type, 'update');
  t.match(status.data[0], { version: '2.0.10', system: 'online', api_version: 'v2' });
  t.match(c.frames[0], /"connection_id":\d+\}/, 'connection_id is an integer');

  c.send({ method: 'ping', req_id: 101 });
  const pong = await c.next((m) => m.method === 'pong', 'pong');
  t.equal(pong.req_id, 101);
  t.match(pong.time_in, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  t.match(pong.time_out, /Z$/);

  // No heartbeats before the first subscription; then about every heartbeatMs.
  await new Promise((r) => setTimeout(r, 150));
  t.equal(c.frames.filter((f) => f === '{"channel":"heartbeat"}').length, 0, 'no heartbeat before subscribing');
  c.send({ method: 'subscribe', params: { channel: 'trade', symbol: ['BTC/USD'] } });
  await eventually(() => c.frames.filter((f) => f === '{"channel":"heartbeat"}').length >= 3, 'heartbeats');
  t.equal(s.stats.connections, 1);
  t.equal(s.stats.connectionsTotal, 1);
});

t.test('subscribe - per-symbol acks and documented errors', async (t) => {
  const s = await sim(t, { bookRatePerSymbol: 0 });
  const c = await client(t, s);
  c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['BTC/USD', 'ETH/USD', 'XYZ/USD'], depth: 25 }, req_id: 7 });
  const acks = await eventually(() => {
    const r = c.parsed().filter((m) => m.method === 'subscribe');
    return r.length === 3 ? r : null;
  }, 'three responses');
  t.same(acks[0].result, { channel: 'book', depth: 25, snapshot: true, symbol: 'BTC/USD' });
  t.same(acks[1].result, { channel: 'book', depth: 25, snapshot: true, symbol: 'ETH/USD' });
  t.equal(acks[0].success, true);
  t.equal(acks[0].req_id, 7);
  t.match(acks[2], { error: 'Currency pair not supported XYZ/USD', method: 'subscribe', success: false, symbol: 'XYZ/USD', req_id: 7 });
  t.notOk('channel' in acks[0], 'acks carry no channel key');
  // Acks come before the snapshots.
  const firstSnapshot = c.frames.findIndex((f) => f.includes('"type":"snapshot"'));
  const lastAck = c.frames.findIndex((f) => f.includes('ETH/USD') && f.startsWith('{"method"'));
  t.ok(firstSnapshot > lastAck, 'snapshots follow the acks');
  await c.next((m) => m.channel === 'book' && m.data[0].symbol === 'ETH/USD', 'ETH snapshot');

  const mark = c.frames.length;
  c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['SOL/USD'], depth: 27 } });
  const depthErr = await c.next((m) => m.method === 'subscribe', 'depth error', mark);
  t.match(depthErr, { error: 'Subscription depth not supported', method: 'subscribe', success: false });
  t.notOk('symbol' in depthErr);

  c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['BTC/USD'] } });
  t.match(await c.next((m) => m.error === 'Already subscribed', 'duplicate', mark), { symbol: 'BTC/USD', success: false });

  c.send({ method: 'frobnicate', req_id: 9 });
  t.match(await c.next((m) => m.method === 'frobnicate', 'unknown method', mark), { success: false, req_id: 9 });
  c.ws.send('{"method":"subscribe",');
  t.match(await c.next((m) => m.error === 'Malformed request', 'malformed request', mark), { success: false });

  c.send({ method: 'unsubscribe', params: { channel: 'book', symbol: ['SOL/USD'] } });
  t.match(await c.next((m) => m.error === 'Subscription Not Found', 'not found', mark), { symbol: 'SOL/USD' });

  // The connection survived every error.
  c.send({ method: 'ping', req_id: 5 });
  await c.next((m) => m.method === 'pong' && m.req_id === 5, 'pong after errors', mark);
  t.equal(c.closeCode, null);
  t.equal(s.stats.subscribeRequests.get('book:BTC/USD'), 2);
  t.equal(s.stats.subscribeRequests.get('book:XYZ/USD'), 1);
  t.equal(s.stats.unsubscribeRequests.get('book:SOL/USD'), 1);
});

t.test('instrument - snapshot with Kraken pair fields, update on status change', async (t) => {
  const s = await sim(t, { pairs: defaultSimPairs(20) });
  const c = await client(t, s);
  c.send({ method: 'subscribe', params: { channel: 'instrument' }, req_id: 79 });
  const ack = await c.next((m) => m.method === 'subscribe', 'ack');
  t.match(ack, { success: true, req_id: 79, result: { channel: 'instrument', snapshot: true } });
  t.same(ack.result.warnings, ['tick_size is deprecated, use price_increment']);
  const snapText = await eventually(() => c.frames.find((f) => f.startsWith('{"channel":"instrument","type":"snapshot"')), 'snapshot');
  const snap = JSON.parse(snapText);
  t.equal(snap.data.pairs.length, 20);
  t.ok(Array.isArray(snap.data.assets) && snap.data.assets.some((a: any) => a.id === 'USD'));
  const btc = snap.data.pairs.find((p: any) => p.symbol === 'BTC/USD');
  t.match(btc, { base: 'BTC', quote: 'USD', status: 'online', price_precision: 1, qty_precision: 8, price_increment: 0.1, qty_increment: 1e-8 });
  for (const k of ['qty_min', 'cost_precision', 'cost_min', 'tick_size', 'has_index', 'marginable']) t.ok(k in btc, `pair has ${k}`);
  t.match(snapText, /"qty_increment":1e-08/, 'increments written in Kraken exponent form');
  const shib = snap.data.pairs.find((p: any) => p.symbol === 'SHIB/USD');
  t.match(shib, { price_precision: 8, qty_precision: 5, qty_increment: 1e-5 });

  s.setPairStatus('ETH/USD', 'maintenance');
  const upd = JSON.parse(await eventually(() => c.frames.find((f) => f.startsWith('{"channel":"instrument","type":"update"')), 'update'));
  t.same(upd.data.assets, []);
  t.match(upd.data.pairs, [{ symbol: 'ETH/USD', status: 'maintenance' }]);
});

t.test('book - every message verifies against the reference book at depths 10, 100 and 1000', async (t) => {
  const s = await sim(t, { bookRatePerSymbol: 1000, seed: 42 });
  const symbols = ['BTC/USD', 'SHIB/USD', 'DOGE/USD'];
  const c10 = await client(t, s);
  const c100 = await client(t, s);
  const c1000 = await client(t, s);
  const v10 = track(c10, symbols, 10);
  const v100 = track(c100, symbols, 100);
  const v1000 = track(c1000, ['ETH/USD'], 1000);
  c10.send({ method: 'subscribe', params: { channel: 'book', symbol: symbols, depth: 10 } });
  c100.send({ method: 'subscribe', params: { channel: 'book', symbol: symbols, depth: 100 } });
  c1000.send({ method: 'subscribe', params: { channel: 'book', symbol: ['ETH/USD'], depth: 1000 } });
  const all = [...v10.values(), ...v100.values(), ...v1000.values()];
  await eventually(() => all.every((v) => v.updates >= 2500), '2500 updates per subscription', 20_000);
  for (const v of all) {
    const name = `${v.symbol} depth ${v.depth}`;
    t.equal(v.snapshots, 1, `${name}: one snapshot`);
    t.equal(v.mismatches, 0, `${name}: ${v.matched} checksums match`);
    t.equal(v.crossed, 0, `${name}: never crossed`);
    t.same(v.problems, [], `${name}: wire format`);
  }
  for (const v of [...v10.values(), ...v100.values()]) t.ok(v.replenishments > 0, `${v.symbol} depth ${v.depth}: ${v.replenishments} replenishments`);
  t.ok((v1000.get('ETH/USD') as BookVerifier).replenishments > 0, 'depth 1000 replenished from the hidden book');
  // Deep-only changes reach depth 100 with the previous checksum (§6).
  t.ok([...v100.values()].every((v) => v.repeatedChecksums > 0), 'depth 100 sees deep-only updates');
  t.ok(s.stats.bookMessagesSent >= 7 * 2500);
});

t.test('trade and ticker channels', async (t) => {
  const s = await sim(t, { bookRatePerSymbol: 500, tradeRatio: 0.5, tickerRatio: 0.2 });
  const c = await client(t, s);
  c.send({ method: 'subscribe', params: { channel: 'ticker', symbol: ['ETH/USD'] } });
  const tick = await c.next((m) => m.channel === 'ticker' && m.type === 'snapshot', 'ticker snapshot');
  const fields = ['symbol', 'bid', 'bid_qty', 'ask', 'ask_qty', 'last', 'volume', 'vwap', 'low', 'high', 'change', 'change_pct'];
  for (const f of fields) t.ok(f in tick.data[0], `ticker has ${f}`);
  c.send({ method: 'subscribe', params: { channel: 'trade', symbol: ['ETH/USD'] } });
  const trades = await eventually(() => {
    const r = c.parsed().filter((m) => m.channel === 'trade' && m.type === 'update').flatMap((m) => m.data);
    return r.length >= 20 ? r : null;
  }, '20 trades');
  const ids = trades.map((x: any) => x.trade_id);
  t.ok(ids.every((id: number, i: number) => i === 0 || id === ids[i - 1] + 1), 'trade_id sequential');
  t.ok(trades.every((x: any) => (x.side === 'buy' || x.side === 'sell') && (x.ord_type === 'market' || x.ord_type === 'limit')));
  t.ok(trades.every((x: any) => hasExactPrecision(x.price, 2) && hasExactPrecision(x.qty, 8)), 'trade numbers at full precision');
  const tickers = await eventually(() => {
    const r = c.parsed().filter((m) => m.channel === 'ticker' && m.type === 'update');
    return r.length >= 3 ? r : null;
  }, 'ticker updates');
  t.ok(tickers.every((m: any) => Number(m.data[0].bid) < Number(m.data[0].ask)), 'bid below ask');
  // A trade snapshot holds recent trades when asked for.
  const c2 = await client(t, s);
  c2.send({ method: 'subscribe', params: { channel: 'trade', symbol: ['ETH/USD'], snapshot: true } });
  const snap = await c2.next((m) => m.channel === 'trade' && m.type === 'snapshot', 'trade snapshot');
  t.ok(snap.data.length > 0 && snap.data.length <= 50);
});

t.test('unsubscribe - per-symbol ack, then no more frames for that symbol', async (t) => {
  const s = await sim(t, { bookRatePerSymbol: 400 });
  const c = await client(t, s);
  const vs = track(c, ['BTC/USD', 'ETH/USD'], 25);
  c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['BTC/USD', 'ETH/USD'], depth: 25 } });
  await eventually(() => (vs.get('BTC/USD') as BookVerifier).updates > 20, 'BTC updates');
  c.send({ method: 'unsubscribe', params: { channel: 'book', symbol: ['BTC/USD'] }, req_id: 3 });
  const ack = await c.next((m) => m.method === 'unsubscribe', 'unsubscribe ack');
  t.same(ack.result, { channel: 'book', depth: 25, symbol: 'BTC/USD' });
  t.equal(ack.success, true);
  const ackAt = c.frames.findIndex((f) => f.startsWith('{"method":"unsubscribe"'));
  const eth = vs.get('ETH/USD') as BookVerifier;
  const ethBefore = eth.updates;
  await eventually(() => eth.updates > ethBefore + 100, 'ETH keeps flowing');
  t.equal(c.frames.slice(ackAt).filter((f) => f.includes('"symbol":"BTC/USD"') && f.startsWith('{"channel":"book"')).length, 0);
  t.equal(eth.mismatches, 0);
});

t.test('faults - corrupt-checksum gives exactly one mismatch, on that symbol only', async (t) => {
  const s = await sim(t, { bookRatePerSymbol: 300 });
  const c = await client(t, s);
  const vs = track(c, ['BTC/USD', 'ETH/USD'], 10);
  c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['BTC/USD', 'ETH/USD'] } });
  const btc = vs.get('BTC/USD') as BookVerifier;
  const eth = vs.get('ETH/USD') as BookVerifier;
  await eventually(() => btc.updates > 50, 'warm-up');
  s.inject({ kind: 'corrupt-checksum', symbol: 'BTC/USD' });
  await eventually(() => btc.mismatches > 0, 'the corrupted message');
  const after = btc.updates;
  await eventually(() => btc.updates > after + 200, 'more updates');
  t.equal(btc.mismatches, 1, 'one mismatch; the book itself stayed right');
  t.equal(eth.mismatches, 0);
});

t.test('faults - drop-message gives exactly one mismatch; resubscribing recovers', async (t) => {
  const s = await sim(t, { bookRatePerSymbol: 300 });
  const c = await client(t, s);
  const vs = track(c, ['BTC/USD', 'ETH/USD'], 10, true);
  c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['BTC/USD', 'ETH/USD'] } });
  const btc = vs.get('BTC/USD') as BookVerifier;
  const eth = vs.get('ETH/USD') as BookVerifier;
  await eventually(() => btc.updates > 50, 'warm-up');
  const sentBefore = s.stats.bookMessagesSent;
  s.inject({ kind: 'drop-message', symbol: 'BTC/USD' });
  await eventually(() => btc.mismatches > 0, 'mismatch after the dropped update');
  await eventually(() => btc.snapshots === 2, 'resync snapshot');
  const after = btc.matched;
  await eventually(() => btc.matched > after + 200, 'verified updates after resync');
  t.equal(btc.mismatches, 1);
  t.equal(eth.mismatches, 0);
  t.ok(s.stats.bookMessagesSent > sentBefore);
  t.equal(s.stats.unsubscribeRequests.get('book:BTC/USD'), 1);
});

t.test('faults - disconnect terminates every client', async (t) => {
  const s = await sim(t);
  const a = await client(t, s);
  const b = await client(t, s);
  await eventually(() => s.stats.connections === 2, 'two connections');
  s.inject({ kind: 'disconnect' });
  await eventually(() => a.closeCode !== null && b.closeCode !== null, 'both closed');
  t.equal(a.closeCode, 1006, 'abrupt close, no close frame');
  await eventually(() => s.stats.connections === 0, 'server forgot them');
  // Reconnecting works and starts with status again.
  const c = await client(t, s);
  await eventually(() => c.frames.length > 0, 'status');
  t.match(c.frames[0], /^\{"channel":"status"/);
});

t.test('faults - refuse-connections answers upgrades with HTTP 429', async (t) => {
  const s = await sim(t);
  s.inject({ kind: 'refuse-connections', count: 2 });
  const attempt = (): Promise<number> =>
    new Promise((resolve) => {
      const ws = new WebSocket(s.url);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? -1);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.terminate();
      });
      ws.on('error', () => {});
    });
  t.equal(await attempt(), 429);
  t.equal(await attempt(), 429);
  t.equal(await attempt(), 101, 'third attempt is accepted');
});

t.test('faults - malformed frame, maintenance', async (t) => {
  const s = await sim(t);
  const c = await client(t, s);
  await eventually(() => c.frames.length > 0, 'status');
  s.inject({ kind: 'malformed' });
  const bad = await eventually(() => c.frames.find((f) => {
    try {
      JSON.parse(f);
      return false;
    } catch {
      return true;
    }
  }), 'malformed frame');
  t.ok(bad.length > 0);
  s.inject({ kind: 'maintenance' });
  await eventually(() => c.closeCode !== null, 'closed');
  const last = JSON.parse(c.frames[c.frames.length - 1] as string);
  t.match(last, { channel: 'status', data: [{ system: 'maintenance' }] });
  t.equal(c.closeCode, 1001);
});

t.test('faults - stall sends nothing at all, then resumes consistently', async (t) => {
  const s = await sim(t, { bookRatePerSymbol: 200, heartbeatMs: 50 });
  const c = await client(t, s);
  const vs = track(c, ['BTC/USD'], 10);
  const v = vs.get('BTC/USD') as BookVerifier;
  c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['BTC/USD'] } });
  await eventually(() => v.updates > 20, 'warm-up');
  s.inject({ kind: 'stall', ms: 400 });
  const injectedAt = performance.now();
  c.send({ method: 'ping', req_id: 77 }); // answered only after the stall
  const mark = c.frames.length;
  await eventually(() => v.updates > 0 && c.frames.length > mark + 50, 'output resumes', 5000);
  // Largest silence after the injection (frames in flight at injection time may arrive just after it).
  let gap = 0;
  for (let i = 1; i < c.times.length; i++) {
    if ((c.times[i] as number) > injectedAt) gap = Math.max(gap, (c.times[i] as number) - (c.times[i - 1] as number));
  }
  t.ok(gap >= 350, `silence of ${gap.toFixed(0)} ms`);
  const pong = c.parsed(mark).find((m) => m.method === 'pong');
  t.equal(pong?.req_id, 77);
  t.equal(v.mismatches, 0, 'no data lost: the market was frozen');
});

t.test('backpressure - a paused client is resynchronised with a snapshot and stays correct', async (t) => {
  const s = await sim(t, { bookRatePerSymbol: 4000, slowClientBytes: 256 * 1024 });
  const c = await client(t, s);
  const symbols = PAIRS.map((p) => p.symbol);
  const vs = track(c, symbols, 10);
  c.send({ method: 'subscribe', params: { channel: 'book', symbol: symbols } });
  await eventually(() => [...vs.values()].every((v) => v.updates > 100), 'warm-up');
  c.ws.pause();
  await eventually(() => s.stats.framesSkippedSlowClient > 0, 'server notices the slow client', 15_000);
  c.ws.resume();
  // The client first works through what was already buffered, then gets a fresh snapshot.
  await eventually(() => [...vs.values()].some((v) => v.snapshots >= 2 && v.matched > 50), 'resync snapshot', 15_000);
  t.ok(s.stats.slowClientResyncs > 0, `${s.stats.slowClientResyncs} resync snapshots`);
  for (const v of vs.values()) t.equal(v.mismatches, 0, `${v.symbol}: every message verifies`);
});

t.test('determinism - the same seed gives the same book', async (t) => {
  const snap = async (seed: number): Promise<string> => {
    const s = await sim(t, { seed, bookRatePerSymbol: 0 });
    const c = await client(t, s);
    c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['SOL/USD'], depth: 100 } });
    const f = await eventually(() => c.frames.find((x) => x.includes('"type":"snapshot"')), 'snapshot');
    return f.replace(/"timestamp":"[^"]*"/, '');
  };
  const a = await snap(7);
  t.equal(await snap(7), a);
  t.not(await snap(8), a);
});

t.test('config - defaultSimPairs and validation', async (t) => {
  const pairs = defaultSimPairs(700);
  t.equal(pairs.length, 700);
  t.equal(new Set(pairs.map((p) => p.symbol)).size, 700, 'unique symbols');
  t.match(pairs.slice(0, 6), [
    { symbol: 'BTC/USD', pricePrecision: 1, qtyPrecision: 8 },
    { symbol: 'ETH/USD', pricePrecision: 2, qtyPrecision: 8 },
    { symbol: 'SOL/USD', pricePrecision: 2, qtyPrecision: 8 },
    { symbol: 'XRP/USD', pricePrecision: 5, qtyPrecision: 8 },
    { symbol: 'DOGE/USD', pricePrecision: 7, qtyPrecision: 8 },
    { symbol: 'SHIB/USD', pricePrecision: 8, qtyPrecision: 5 },
  ]);
  t.ok(new Set(pairs.map((p) => p.pricePrecision)).size >= 8, 'varied price precisions');
  t.throws(() => defaultSimPairs(-1));
  await t.rejects(startSimExchange({ hiddenDepth: 1000 }), SimConfigError);
  await t.rejects(startSimExchange({ bookRate: 5 } as unknown as SimOptions), /bookRate is not a known option/);
  await t.rejects(
    startSimExchange({ pairs: [{ symbol: 'A/USD', base: 'A', quote: 'USD', pricePrecision: 2, qtyPrecision: 8, startPrice: '1.234' }] }),
    /startPrice/,
  );
  // 700 pairs serve an instrument snapshot and books on demand.
  const s = await sim(t, { pairs, bookRatePerSymbol: 50 });
  const c = await client(t, s);
  const vs = track(c, ['SYM1/USD', 'SYM688/USD'], 10, false, pairs);
  c.send({ method: 'subscribe', params: { channel: 'instrument' } });
  c.send({ method: 'subscribe', params: { channel: 'book', symbol: ['SYM1/USD', 'SYM688/USD'] } });
  const inst = await eventually(() => c.frames.find((f) => f.startsWith('{"channel":"instrument","type":"snapshot"')), 'instrument');
  t.equal(JSON.parse(inst).data.pairs.length, 700);
  await eventually(() => [...vs.values()].every((v) => v.updates > 30), 'synthetic books flow');
  for (const v of vs.values()) t.equal(v.mismatches, 0, `${v.symbol} verifies`);
});
