// Worker side of bench/topology.ts: the actor path behind a postMessage hop.
import { parentPort } from 'node:worker_threads';
import { createReplaySession } from '../adapters/kraken/session.js';
import { createRiskEncoder } from '../adapters/nats/codec.js';

const encoder = createRiskEncoder();
let out: Uint8Array | null = null;
let t = 0;
const session = createReplaySession({
  depth: 10,
  precision: new Map([['BTC/USD', { price: 1, qty: 8 }]]),
  clock: { nowUs: () => t },
  onRisk: (a) => {
    out = encoder.encode(a.risk);
  },
});
parentPort!.on('message', (frame: Uint8Array) => {
  out = null;
  t++;
  session.onFrame(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), t);
  // An exact-size copy: posting msgpackr's view would clone its whole 8 KiB backing buffer.
  parentPort!.postMessage(out === null ? null : Uint8Array.from(out));
});
