/**
 * The "null engine" of the end-to-end benchmark: the same processes and hops as the engine
 * (exchange → WebSocket → this process → core NATS → subscriber) with almost no work in the
 * middle. It subscribes to the same books and, for every book frame, publishes a risk record
 * that carries only what the frame says (symbol, checksum, timestamp; `seq` per symbol) —
 * no order book, no checksum verification, no risk figures, no worker thread.
 *
 * Its latency is the floor of this topology on this machine (WebSocket + NATS + three
 * process wake-ups); the engine's latency minus this floor is what the engine itself adds.
 *
 *   node --import tsx bench/e2e-relay.ts '{"url":…,"symbols":[…],"depth":10,"natsUrl":…,"namespace":…}'
 *
 * Stops on SIGTERM (drains NATS, exit code 0).
 */
import { connect } from '@nats-io/transport-node';
import WebSocket from 'ws';
import { emptyMarketRisk, type MarketRisk } from '../actors/risk.js';
import { createRiskEncoder } from '../adapters/nats/codec.js';
import { riskSubject } from '../engine/switchboard.js';
import { epochUs, parseStampUs } from './e2e-common.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { url: string; symbols: string[]; depth: number; natsUrl: string; namespace: string };
const nc = await connect({ servers: cfg.natsUrl, name: 'aether-bench-relay' });
const encoder = createRiskEncoder();
const state = new Map<string, { risk: MarketRisk; subject: string }>();
const epoch = Math.round(epochUs());
for (const s of cfg.symbols) {
  const risk = emptyMarketRisk(s, true, epoch);
  risk.health = 'LIVE';
  state.set(s, { risk, subject: riskSubject(cfg.namespace, s) });
}

const BOOK = Buffer.from('{"channel":"book","type":"');
const SYMBOL_KEY = Buffer.from('"symbol":"');
const TAIL = 4; // "}]}
const TS_LEN = 27;
const TS_KEY_LEN = 13; // "timestamp":"

function onFrame(buf: Buffer): void {
  const recv = epochUs();
  for (let i = 0; i < BOOK.length; i++) if (buf[i] !== BOOK[i]) return;
  const s0 = buf.indexOf(SYMBOL_KEY, BOOK.length) + SYMBOL_KEY.length;
  const sym = buf.toString('latin1', s0, buf.indexOf(0x22, s0));
  const st = state.get(sym);
  if (st === undefined) return;
  const ts = buf.length - TAIL - TS_LEN;
  const c1 = ts - TS_KEY_LEN - 1;
  let c0 = c1;
  while (buf[c0 - 1] !== 0x3a) c0--;
  let ck = 0;
  for (let i = c0; i < c1; i++) ck = ck * 10 + (buf[i]! - 48);
  const r = st.risk;
  r.seq++;
  r.checksum = ck;
  r.eventTimeUs = parseStampUs(buf, ts);
  r.recvTimeUs = Math.round(recv);
  nc.publish(st.subject, encoder.encode(r));
}

const ws = new WebSocket(cfg.url, { perMessageDeflate: false });
ws.on('open', () => ws.send(JSON.stringify({ method: 'subscribe', params: { channel: 'book', symbol: cfg.symbols, depth: cfg.depth, snapshot: true }, req_id: 1 })));
ws.on('message', (data: Buffer, isBinary: boolean) => {
  if (!isBinary) onFrame(data);
});
ws.on('error', (err) => {
  process.stderr.write(`relay: ${err.message}\n`);
  process.exitCode = 1;
});

process.once('SIGTERM', () => {
  ws.close();
  nc.drain().then(
    () => process.exit(process.exitCode ?? 0),
    () => process.exit(1),
  );
});
