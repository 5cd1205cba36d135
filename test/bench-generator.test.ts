import t from 'tap';
import { readFileSync } from 'node:fs';
import { ApplyResult, OrderBook } from '../actors/book.js';
import { LevelBatch } from '../actors/levels.js';
import { BookScanner } from '../adapters/kraken/parser.js';
import { KrakenSession } from '../adapters/kraken/session.js';
import { createCcxtKraken, diffCcxtBook } from '../bench/ccxt-kraken.js';
import {
  FrameKind,
  INSTRUMENTS,
  fixedText,
  generateBookStream,
  generateMixStream,
  referenceChecksum,
  timestampText,
  type BookStream,
  type TextLevel,
} from '../bench/generator.js';

const DEPTHS = [10, 100, 1000] as const;
const UPDATES = 3000;

/** Feed frames through the production scanner and book; collect results and computed checksums. */
function replay(s: BookStream, frames: readonly Buffer[]): { results: number[]; crcs: number[]; book: OrderBook; refused: number } {
  const scanner = new BookScanner();
  const batch = new LevelBatch();
  const book = new OrderBook(s.depth, s.spec.pricePrecision, s.spec.qtyPrecision);
  const results: number[] = [];
  const crcs: number[] = [];
  let refused = 0;
  for (const f of frames) {
    if (!scanner.scan(f, batch)) {
      refused++;
      continue;
    }
    results.push(book.apply(batch));
    crcs.push(book.crc);
  }
  return { results, crcs, book, refused };
}

function bookAsText(book: OrderBook): { bids: TextLevel[]; asks: TextLevel[] } {
  const side = (s: OrderBook['bids'], sign: number) => {
    const out: TextLevel[] = [];
    for (let i = 0; i < s.n; i++) {
      out.push({ price: fixedText(s.key[i]! * sign, book.pricePrecision), qty: `${s.hi[i]}.${fixedText(s.lo[i]!, book.qtyPrecision).split('.')[1]}` });
    }
    return out;
  };
  return { bids: side(book.bids, -1), asks: side(book.asks, 1) };
}

t.test("bench generator - the reference checksum reproduces Kraken's documented example", async (t) => {
  const fx = JSON.parse(readFileSync(new URL('./fixtures/kraken/docs-examples.json', import.meta.url), 'utf8')) as {
    v2_book_checksum_guide: { message: string; expected_checksum: number };
  };
  const g = fx.v2_book_checksum_guide;
  const el = (JSON.parse(g.message) as { data: { bids: TextLevel[]; asks: TextLevel[] }[] }).data[0]!;
  t.equal(referenceChecksum(el.asks, el.bids), g.expected_checksum);
  t.equal(g.expected_checksum, 3310070434);
});

t.test('bench generator - numbers are rendered exactly at full precision', async (t) => {
  t.equal(fixedText(452835, 1), '45283.5');
  t.equal(fixedText(10_000_000, 8), '0.10000000');
  t.equal(fixedText(0, 8), '0.00000000');
  t.equal(fixedText(1, 5), '0.00001');
  t.equal(fixedText(123_456_789_012_345, 8), '1234567.89012345');
  t.equal(timestampText(Date.UTC(2026, 7, 16, 23, 37, 3) * 1000 + 745_044), '2026-08-16T23:37:03.745044Z');
});

for (const depth of DEPTHS) {
  for (const ccxtCompat of [false, true]) {
    const mode = ccxtCompat ? 'ccxt-compatible' : 'full precision';
    t.test(`bench generator - depth ${depth} ${mode} stream verifies through BookScanner + OrderBook, every checksum`, async (t) => {
      const s = generateBookStream({ depth, updates: UPDATES, seed: 11 + depth, ccxtCompat });
      t.equal(s.frames.length, UPDATES + 1);
      const r = replay(s, s.frames);
      t.equal(r.refused, 0, 'the scanner reads every frame (no fallback)');
      t.equal(r.results.filter((x) => x !== ApplyResult.OK).length, 0, 'every checksum matches');
      t.same(r.crcs, s.checksums, "the book's checksum equals the reference's on every frame");
      t.same(bookAsText(r.book), s.finalBook, "the final book equals the generator's visible book");
      t.equal(r.book.bids.n, depth);
      t.equal(r.book.asks.n, depth);
    });
  }

  t.test(`bench generator - depth ${depth}: a dropped update makes checksums fail (negative control)`, async (t) => {
    const s = generateBookStream({ depth, updates: UPDATES, seed: 11 + depth });
    // drop the first update after the start that changed the top 10 (the checksummed part)
    const k = s.top10Changed.findIndex((x, i) => i > 5 && x === 1);
    t.ok(k > 0, 'the stream has top-10 changes');
    const r = replay(
      s,
      s.frames.filter((_, i) => i !== k),
    );
    const firstBad = r.results.findIndex((x) => x !== ApplyResult.OK);
    t.equal(firstBad, k, 'the frame right after the dropped one fails its checksum');
    t.equal(r.results[firstBad], ApplyResult.CHECKSUM_MISMATCH);
  });
}

t.test('bench generator - update mix follows the specified distribution', async (t) => {
  const s = generateBookStream({ depth: 100, updates: 20000, seed: 3 });
  const st = s.stats;
  const changes = st.modify + st.insert + st.delete;
  const near = (x: number, want: number, tol: number, what: string) => t.ok(Math.abs(x - want) <= tol, `${what}: ${x.toFixed(3)} ≈ ${want}`);
  near(st.changes[1]! / st.updates, 0.6, 0.02, '1-change updates');
  near(st.changes[2]! / st.updates, 0.3, 0.02, '2-change updates');
  near(st.changes[3]! / st.updates, 0.1, 0.02, '3-change updates');
  near(st.modify / changes, 0.6, 0.03, 'modify (inserts without a free price fall back to modify)');
  near(st.insert / changes, 0.2, 0.03, 'insert');
  near(st.delete / changes, 0.2, 0.02, 'delete');
  t.equal(st.replenish, st.delete, 'every delete carries the replenishing level');
  near(st.top10 / changes, 0.5 + 0.5 * (10 / 100), 0.02, 'changes aimed at the top 10');
});

t.test('bench generator - wire text: trailing zeros in full-precision streams, none in ccxt-compatible ones', async (t) => {
  const real = generateBookStream({ depth: 10, updates: 2000, seed: 5 });
  const compat = generateBookStream({ depth: 10, updates: 2000, seed: 5, ccxtCompat: true });
  const numbers = (s: BookStream) => s.texts.flatMap((x) => [...x.matchAll(/"(?:price|qty)":([0-9.]+)/g)].map((m) => m[1]!));
  const lastZero = (n: string) => n.endsWith('0') && !/^0\.0+$/.test(n);
  t.ok(numbers(real).filter(lastZero).length > 1000, 'many full-precision numbers end in 0');
  t.equal(numbers(compat).filter(lastZero).length, 0, 'no ccxt-compatible number ends in 0 (except qty 0 deletes)');
  t.ok(numbers(real).every((n) => /^\d+\.\d$/.test(n) || /^\d+\.\d{8}$/.test(n)), 'BTC/USD numbers carry exactly 1 or 8 decimals');
  t.match(real.texts[1]!, /^\{"channel":"book","type":"update","data":\[\{"symbol":"BTC\/USD","bids":\[.*\],"asks":\[.*\],"checksum":\d+,"timestamp":"2026-08-16T\d\d:\d\d:\d\d\.\d{6}Z"\}\]\}$/);
});

t.test('bench generator - deterministic for a seed', async (t) => {
  const a = generateBookStream({ depth: 100, updates: 500, seed: 42 });
  const b = generateBookStream({ depth: 100, updates: 500, seed: 42 });
  const c = generateBookStream({ depth: 100, updates: 500, seed: 43 });
  t.same(a.texts, b.texts);
  t.not(a.texts[1], c.texts[1]);
});

t.test('bench generator - the depth-10 mix runs through KrakenSession with every checksum verified', async (t) => {
  const m = generateMixStream({ depth: 10, frames: 8000, seed: 9 });
  const n = m.frames.length - m.counts.snapshots;
  t.ok(Math.abs(m.counts.book / n - 0.85) < 0.02 && Math.abs(m.counts.trade / n - 0.1) < 0.015 && Math.abs(m.counts.ticker / n - 0.05) < 0.01, 'about 85 % book, 10 % trade, 5 % ticker');
  let risks = 0;
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const session = new KrakenSession(
    INSTRUMENTS.map((i) => i.symbol),
    {
      depth: 10,
      simulated: false,
      mode: 'replay',
      clock: { nowUs: () => 0 },
      timers: { setTimeout: () => null, clearTimeout() {} },
      log,
      onRisk: () => void risks++,
      send() {},
      precision: new Map(INSTRUMENTS.map((i) => [i.symbol, { price: i.pricePrecision, qty: i.qtyPrecision }])),
    },
  );
  m.frames.forEach((f, i) => session.onFrame(f, i));
  const c = session.counters;
  t.equal(c.scannerFallbacks, 0, 'every book frame takes the scanner');
  t.equal(c.malformed + c.unexpected + c.unknownSymbol, 0);
  t.equal(c.trades, m.counts.trade);
  t.equal(c.tickers, m.counts.ticker);
  for (const a of session.actors.values()) {
    t.equal(a.counters.checksumMismatches, 0, `${a.symbol}: no mismatch`);
    t.equal(a.counters.checksumsVerified, m.bookFramesBySymbol[a.symbol], `${a.symbol}: every book frame verified`);
    t.same(bookAsText(a.book!), m.finalBooks[a.symbol], `${a.symbol}: final book equals the generator's`);
  }
  t.ok(risks >= m.counts.snapshots + m.counts.book, 'a risk record for every book frame');
  t.equal(m.kinds.filter((k) => k === FrameKind.BOOK).length, m.counts.snapshots + m.counts.book);
});

t.test('bench generator - ccxt (checksum on, patched) verifies a ccxt-compatible stream and rejects a full-precision one', async (t) => {
  const compat = generateBookStream({ depth: 10, updates: 300, seed: 21, ccxtCompat: true });
  const on = createCcxtKraken({ checksum: true });
  for (const x of compat.texts) on.onText(x);
  t.equal(on.errors(), 0, 'no rejection');
  t.equal(diffCcxtBook(on.book('BTC/USD'), compat.finalBook), null, "ccxt's final book equals the generator's");
  // Trailing zeros on the wire: ccxt's shortest-form checksum disagrees with Kraken's.
  const real = generateBookStream({ depth: 10, updates: 300, seed: 21 });
  const bad = createCcxtKraken({ checksum: true });
  for (const x of real.texts) bad.onText(x);
  t.ok(bad.errors() > 0, `ccxt rejects the realistic stream (${bad.firstError()})`);
  await on.close();
  await bad.close();
});
