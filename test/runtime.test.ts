/** Runtime building blocks: connection budget across threads, shard map, mailbox. */
import t from 'tap';
import { ConnectBudget } from '../engine/connect-budget.js';
import { Mailbox, OverflowPolicy } from '../engine/mailbox.js';
import { spawnWorker } from '../engine/spawn-worker.js';
import { assignWorkers, rendezvous, shardSymbols } from '../engine/shard-map.js';

t.test('connect budget - grants at most `limit` attempts in a rolling window, then says how long to wait', async (t) => {
  const b = ConnectBudget.create(3, 10_000);
  const t0 = 1_000_000;
  t.equal(b.tryAcquire(t0), 0);
  t.equal(b.tryAcquire(t0 + 100), 0);
  t.equal(b.tryAcquire(t0 + 200), 0);
  t.equal(b.tryAcquire(t0 + 300), 9_700, 'fourth attempt waits until the first leaves the window');
  t.equal(b.used(t0 + 300), 3);
  t.equal(b.tryAcquire(t0 + 10_000), 0, 'granted once the oldest attempt is 10 s old');
  t.equal(b.tryAcquire(t0 + 10_001), 99, 'the next waits for the second-oldest');
});

t.test('connect budget - shared by worker threads: concurrent acquisition never exceeds the limit', async (t) => {
  const limit = 20_000;
  const tries = 10_000;
  const budget = ConnectBudget.create(limit);
  const barrier = new SharedArrayBuffer(4);
  const gate = new Int32Array(barrier);
  const url = new URL('./helpers/budget-worker.ts', import.meta.url);
  const workers = [0, 1, 2].map(() => spawnWorker(url, { workerData: { buffer: budget.buffer, limit, tries, barrier, parties: 4 } }));
  while (Atomics.load(gate, 0) < 3) await new Promise((r) => setTimeout(r, 5));
  Atomics.add(gate, 0, 1);
  let mainGranted = 0;
  for (let i = 0; i < tries; i++) if (budget.tryAcquire() === 0) mainGranted++;
  const counts = await Promise.all(workers.map((w) => new Promise<number>((r) => w.once('message', r))));
  const total = counts.reduce((a, b) => a + b, mainGranted);
  t.equal(total, limit, `exactly ${limit} grants for ${4 * tries} concurrent attempts on 4 threads (main ${mainGranted}, workers ${counts.join('/')})`);
  t.equal(budget.used(), limit);
});

t.test('shard map - deterministic, complete and disjoint; adding a worker moves only what it takes', async (t) => {
  const symbols = Array.from({ length: 700 }, (_, i) => `S${i}/USD`);
  const a = assignWorkers(symbols, 4);
  t.same(assignWorkers(symbols, 4), a, 'same input, same placement');
  t.equal(a.flat().length, 700, 'every instrument placed once');
  t.equal(new Set(a.flat()).size, 700);
  for (const g of a) t.ok(g.length > 100 && g.length < 250, `balanced enough (${g.length})`);
  const b = assignWorkers(symbols, 5);
  let moved = 0;
  for (const s of symbols) if (rendezvous(s, 4, 'worker') !== rendezvous(s, 5, 'worker') && rendezvous(s, 5, 'worker') !== 4) moved++;
  t.equal(moved, 0, 'instruments only move to the new worker');
  t.ok(b[4]!.length > 80, 'the new worker takes a share');
  const shards = [0, 1, 2].map((i) => shardSymbols(symbols, i, 3));
  t.equal(shards.flat().length, 700);
  t.equal(new Set(shards.flat()).size, 700, 'process shards are disjoint and complete');
});

t.test('mailbox - bounded, run to completion, overflow policy applied and counted', async (t) => {
  const seen: number[] = [];
  const m = new Mailbox<number>(3, OverflowPolicy.DROP_OLDEST, (n) => seen.push(n));
  for (let i = 1; i <= 5; i++) m.post(i);
  t.equal(m.depth, 3);
  t.equal(m.dropped, 2);
  t.equal(m.drain(), 3);
  t.same(seen, [3, 4, 5], 'drop-oldest keeps the newest');
  const r = new Mailbox<number>(2, OverflowPolicy.REJECT, () => undefined);
  t.ok(r.post(1) && r.post(2));
  t.notOk(r.post(3), 'reject refuses when full');
  t.equal(r.dropped, 1);
  t.equal(r.highWater, 2);
  t.throws(() => new Mailbox<number>(0, OverflowPolicy.REJECT, () => undefined), /capacity/);
});
