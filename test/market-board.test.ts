/** The market board: a reader on another thread always sees one consistent version of a slot. */
import t from 'tap';
import { BoardBook, MarketBoard } from '../engine/market-board.js';
import { spawnWorker } from '../engine/spawn-worker.js';

t.test('market board - concurrent reads never see a torn write', async (t) => {
  const board = MarketBoard.create(1);
  const w = spawnWorker(new URL('./helpers/board-writer.ts', import.meta.url), { workerData: { buffer: board.buffer, versions: 200_000 } });
  const done = new Promise((r) => w.once('message', r));
  const view = new BoardBook();
  let reads = 0;
  let torn = 0;
  let finished = false;
  void done.then(() => (finished = true));
  let lastK = 0;
  let backwards = 0;
  while (!finished) {
    if (board.read(0, view) && view.bidCount === 50) {
      const k = view.bidQty(0);
      for (let i = 0; i < 50; i++) {
        if (view.bidPrice(i) !== 100_000 + k - i || view.askPrice(i) !== 100_000 + k + 1 + i || view.bidQty(i) !== k || view.askQty(i) !== k) {
          torn++;
          break;
        }
      }
      if (view.mid !== 100_000 + k + 0.5) torn++;
      if (k < lastK) backwards++;
      lastK = k;
      reads++;
    }
    if (reads % 1000 === 0) await new Promise((r) => setImmediate(r));
  }
  await w.terminate();
  t.ok(reads > 100, `${reads} reads while the writer ran`);
  t.equal(torn, 0, 'every read is one consistent version');
  t.equal(backwards, 0, 'versions never go backwards');
  t.equal(view.health, 'LIVE');
});

t.test('market board - a slot never written reads as absent', async (t) => {
  const board = MarketBoard.create(2);
  t.notOk(board.read(1, new BoardBook()));
});

t.test('market board - incremental copies keep the slot equal to the book over a long stream', async (t) => {
  const { generateBookStream } = await import('../bench/generator.js');
  const { InstrumentActor } = await import('../actors/instrument.js');
  const { LevelBatch } = await import('../actors/levels.js');
  const { BookScanner } = await import('../adapters/kraken/parser.js');
  for (const depth of [10, 100]) {
    const s = generateBookStream({ depth, updates: 3000, seed: depth });
    const board = MarketBoard.create(1);
    const a = new InstrumentActor(s.spec.symbol, depth, false, 1);
    a.setPrecision(s.spec.pricePrecision, s.spec.qtyPrecision);
    const scanner = new BookScanner();
    const batch = new LevelBatch();
    const view = new BoardBook();
    let bad = 0;
    for (const f of s.frames) {
      scanner.scan(f, batch);
      a.onBook(batch, 1);
      board.write(0, a);
      board.read(0, view);
      const b = a.book!;
      const nb = Math.min(b.bids.n, 50);
      const na = Math.min(b.asks.n, 50);
      if (view.bidCount !== nb || view.askCount !== na) bad++;
      for (let i = 0; i < nb; i++) if (view.bidPrice(i) !== b.bidPrice(i) || view.bidQty(i) !== b.bidQty(i)) bad++;
      for (let i = 0; i < na; i++) if (view.askPrice(i) !== b.askPrice(i) || view.askQty(i) !== b.askQty(i)) bad++;
    }
    t.equal(bad, 0, `depth ${depth}: the board equals the book after each of ${s.frames.length} messages`);
  }
});
