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
