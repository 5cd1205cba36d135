// Worker side of the connect-budget concurrency test: the real class on shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import { ConnectBudget } from '../../engine/connect-budget.js';

const { buffer, limit, tries, barrier, parties } = workerData as { buffer: SharedArrayBuffer; limit: number; tries: number; barrier: SharedArrayBuffer; parties: number };
const budget = ConnectBudget.attach(buffer, limit);
const gate = new Int32Array(barrier);
Atomics.add(gate, 0, 1);
while (Atomics.load(gate, 0) < parties) {
  // spin until every thread is here, so the attempts really overlap
}
let granted = 0;
for (let i = 0; i < tries; i++) if (budget.tryAcquire() === 0) granted++;
parentPort!.postMessage(granted);
