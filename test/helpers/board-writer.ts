// Writer side of the market-board test: one real instrument actor rewritten in a loop, every
// version internally consistent (all prices derive from the version number k).
import { parentPort, workerData } from 'node:worker_threads';
import { InstrumentActor } from '../../actors/instrument.js';
import { LevelBatch, Side } from '../../actors/levels.js';
import { MarketBoard } from '../../engine/market-board.js';

const { buffer, versions } = workerData as { buffer: SharedArrayBuffer; versions: number };
const board = MarketBoard.attach(buffer);
const actor = new InstrumentActor('X/USD', 50, false, 1);
actor.setPrecision(0, 0);
const batch = new LevelBatch(128);
for (let k = 1; k <= versions; k++) {
  batch.reset();
  batch.isSnapshot = true;
  batch.symbol = 'X/USD';
  for (let i = 0; i < 50; i++) {
    batch.push(Side.BID, 100_000 + k - i, 0, 0, k, 0, 0);
    batch.push(Side.ASK, 100_000 + k + 1 + i, 0, 0, k, 0, 0);
  }
  actor.onBook(batch, k);
  board.write(0, actor);
}
parentPort!.postMessage('done');
