/**
 * Market risk from the instrument actor equals a plain recomputation from the book's levels
 * after every message (the band depths are cached between messages, so this checks the cache).
 */
import t from 'tap';
import { ApplyResult } from '../actors/book.js';
import { InstrumentActor } from '../actors/instrument.js';
import { LevelBatch } from '../actors/levels.js';
import { BookScanner } from '../adapters/kraken/parser.js';
import { generateBookStream } from '../bench/generator.js';
import { fixtureLines } from './helpers/fixtures.js';

function naive(a: InstrumentActor) {
  const b = a.book!;
  const bids = Array.from({ length: b.bids.n }, (_, i) => [b.bidPrice(i), b.bidQty(i)] as const);
  const asks = Array.from({ length: b.asks.n }, (_, i) => [b.askPrice(i), b.askQty(i)] as const);
  const mid = (bids[0]![0] + asks[0]![0]) / 2;
  const within = (side: (readonly [number, number])[], bps: number, dir: 1 | -1) =>
    side.filter(([p]) => (dir === -1 ? p >= mid * (1 - bps / 1e4) : p <= mid * (1 + bps / 1e4))).reduce((s, [p, q]) => s + p * q, 0);
  return {
    mid,
    bid: bids[0]![0],
    ask: asks[0]![0],
    spreadBps: ((asks[0]![0] - bids[0]![0]) / mid) * 1e4,
    imbalance: (bids[0]![1] - asks[0]![1]) / (bids[0]![1] + asks[0]![1]),
    bidDepth10bps: within(bids as never, 10, -1),
    bidDepth50bps: within(bids as never, 50, -1),
    askDepth10bps: within(asks as never, 10, 1),
    askDepth50bps: within(asks as never, 50, 1),
  };
}

const close = (a: number | null, b: number) => a !== null && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

function check(t: { fail(m: string): void; equal(a: unknown, b: unknown, m: string): void }, frames: Buffer[], depth: number, pp: number, qp: number, label: string) {
  const actor = new InstrumentActor('X', depth, false, 1);
  actor.setPrecision(pp, qp);
  const scanner = new BookScanner();
  const batch = new LevelBatch();
  let bad = 0;
  let checked = 0;
  for (const f of frames) {
    if (!scanner.scan(f, batch)) throw new Error('scanner declined a generated frame');
    batch.symbol = 'X';
    if (actor.onBook(batch, 1) !== ApplyResult.OK) throw new Error('checksum mismatch in a valid stream');
    const want = naive(actor);
    const r = actor.risk;
    for (const k of Object.keys(want) as (keyof typeof want)[]) {
      if (!close(r[k], want[k])) {
        if (bad++ < 3) t.fail(`${label}: ${k} = ${r[k]}, expected ${want[k]}`);
      }
    }
    checked++;
  }
  t.equal(bad, 0, `${label}: risk equals a full recomputation after each of ${checked} messages`);
}

t.test('market risk - recorded BTC/USD depth-10 stream', async (t) => {
  check(t, fixtureLines('btcusd-d10-python-kraken-sdk.ndjson').map((l) => Buffer.from(l)), 10, 1, 8, 'recorded d10');
});

for (const depth of [100, 1000]) {
  t.test(`market risk - generated depth-${depth} streams, several instruments`, async (t) => {
    for (const symbol of ['BTC/USD', 'XRP/USD']) {
      const s = generateBookStream({ symbol, depth, updates: 3000, seed: depth + symbol.length });
      check(t, s.frames, depth, s.spec.pricePrecision, s.spec.qtyPrecision, `${symbol} d${depth}`);
    }
  });
}

t.test('market risk - trade VWAP and signed flow over a rolling window; clip cost; volatility on the sampling clock', async (t) => {
  const a = new InstrumentActor('X', 10, false, 1, { volLambda: 0.9, volIntervalSec: 1, flowWindowUs: 10_000_000, clipNotional: 150 });
  a.setPrecision(1, 8);
  const batch = new LevelBatch();
  const frame = Buffer.from('{"channel":"book","type":"snapshot","data":[{"symbol":"X","bids":[{"price":99.0,"qty":1.00000000},{"price":98.0,"qty":2.00000000}],"asks":[{"price":101.0,"qty":1.00000000},{"price":102.0,"qty":2.00000000}],"checksum":0}]}');
  new BookScanner().scan(frame, batch);
  batch.checksum = a.book!.crc; // not the point here: take whatever the book computes
  a.book!.apply(batch);
  batch.checksum = a.book!.crc;
  t.equal(a.onBook(batch, 1), ApplyResult.OK);
  t.equal(a.risk.clipQty, 1.5, '150 notional at mid 100');
  t.ok(Math.abs(a.risk.buyClipBps! - ((1 * 101 + 0.5 * 102) / 1.5 - 100) * 100) < 1e-9, 'buy 1 @ 101 + 0.5 @ 102');
  t.ok(Math.abs(a.risk.sellClipBps! - (100 - (1 * 99 + 0.5 * 98) / 1.5) * 100) < 1e-9);
  a.onTrade(100, 2, 1, -1, 1_000_000);
  a.onTrade(110, 1, -1, -1, 5_000_000);
  t.ok(Math.abs(a.risk.vwap! - 310 / 3) < 1e-12);
  t.equal(a.risk.flow, 1, '2 bought − 1 sold');
  t.ok(a.sample(11_500_000), 'the first trade leaves the 10 s window');
  t.equal(a.risk.volAnnual, null, 'no volatility from a single sample of mid');
  t.equal(a.risk.vwap, 110);
  t.equal(a.risk.flow, -1);
  a.sample(20_000_000);
  t.equal(a.risk.vwap, null, 'window empty');
  t.equal(a.risk.flow, 0);
  t.equal(a.risk.volAnnual, 0, 'two samples of an unchanged mid: zero volatility');
});
