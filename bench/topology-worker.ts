// Worker side of bench/topology.ts: the actor path behind a postMessage hop.
import { parentPort } from 'node:worker_threads';
import { KrakenSession } from '../adapters/kraken/session.js';
import { createRiskEncoder } from '../adapters/nats/codec.js';

const encoder = createRiskEncoder();
let out: Uint8Array | null = null;
let t = 0;
const session = new KrakenSession([], {
  depth: 10,
  simulated: false,
  mode: 'replay',
  autoCreate: true,
  precision: new Map([['BTC/USD', { price: 1, qty: 8 }]]),
  clock: { nowUs: () => t },
  timers: { setTimeout: () => null, clearTimeout: () => undefined },
  log: { debug() {}, info() {}, warn() {}, error() {} },
  onRisk: (a) => {
    out = encoder.encode(a.risk);
  },
  send: () => undefined,
});
parentPort!.on('message', (frame: Uint8Array) => {
  out = null;
  t++;
  session.onFrame(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), t);
  // An exact-size copy: posting msgpackr's view would clone its whole 8 KiB backing buffer.
  parentPort!.postMessage(out === null ? null : Uint8Array.from(out));
});
