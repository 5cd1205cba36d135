/**
 * The hub's fan-out batching, without sockets: many connections (enough for a burst to be
 * sliced over event-loop turns), one source event of many records. Each connection must get
 * every message once, in order, with contiguous seq, bytes identical to the reference
 * envelope; messages written while a sliced flush is pending queue behind it.
 */
import t from 'tap';
import { emptyMarketRisk, BookHealth, type MarketRisk } from '../actors/risk.js';
import { EngineFeed } from '../engine/feed.js';
import { Hub, type Conn } from '../engine/gateway/hub.js';
import { Encoding, envelopeJson, Outgoing } from '../engine/gateway/protocol.js';
import type { GatewaySource } from '../engine/gateway/source.js';
import { memoryLogger } from './helpers/logger.js';

const SYMBOLS = Array.from({ length: 20 }, (_, i) => `S${i}/USD`);
const latest = new Map<string, MarketRisk>();
const feed = new EngineFeed();
const source: GatewaySource = {
  kind: 'embedded',
  simulated: true,
  feed,
  symbols: () => SYMBOLS,
  isSymbol: (s) => SYMBOLS.includes(s),
  latestRisk: (s) => latest.get(s) ?? null,
  instrument: (s) => ({ symbol: s, health: BookHealth.LIVE, reason: null, stale: false, quiet: false, seq: latest.get(s)?.seq ?? 0, epoch: 1, lastUpdateUs: null }),
  isStale: () => false,
  books: null,
  hasTrades: false,
  portfolio: () => null,
  onStaleChange: () => undefined,
  close: async () => undefined,
};

function record(symbol: string, seq: number): MarketRisk {
  const r = emptyMarketRisk(symbol, true, 1);
  r.seq = seq;
  r.health = BookHealth.LIVE;
  r.mid = 100 + seq;
  r.recvTimeUs = Date.now() * 1000;
  return r;
}

class FakeConn implements Conn {
  readonly got: string[] = [];
  corked = 0;
  writesOutsideCork = 0;
  private inCork = false;
  send(msg: string | Uint8Array): number {
    // A copy, as uWS makes: the hub reuses its encode buffer.
    this.got.push(typeof msg === 'string' ? msg : Buffer.from(msg).toString('utf8'));
    if (!this.inCork) this.writesOutsideCork++;
    return 1;
  }
  buffered(): number {
    return 0;
  }
  end(): void {}
  ping(): void {}
  cork(fn: () => void): void {
    this.corked++;
    this.inCork = true;
    try {
      fn();
    } finally {
      this.inCork = false;
    }
  }
}

t.test('hub - a burst to 300 connections: every message once, in order, contiguous seq, exact bytes, one cork per connection', async (t) => {
  for (const s of SYMBOLS) latest.set(s, record(s, 1));
  const hub = new Hub({
    source,
    env: 'development',
    log: memoryLogger('fatal'),
    limits: { conflateBytes: 1 << 20, closeBytes: 4 << 20, conflateIntervalMs: 250, controlRate: 100, controlBurst: 100, idleTimeoutMs: 60_000, maxMessageBytes: 4096, maxChannels: 256, bookLevels: 10, bookIntervalMs: 100 },
  });
  hub.start();
  t.teardown(() => hub.stop());
  const conns = Array.from({ length: 300 }, () => new FakeConn());
  const clients = conns.map((c) => hub.open(c, '127.0.0.1', Encoding.JSON, null));
  const sub = new TextEncoder().encode(JSON.stringify({ op: 'subscribe', id: 1, channels: SYMBOLS.map((s) => `risk.${s}`) }));
  for (const c of clients) hub.onMessage(c, sub.buffer.slice(0) as ArrayBuffer, false);
  for (const c of conns) c.got.length = 0;
  for (const c of conns) {
    c.corked = 0;
    c.writesOutsideCork = 0;
  }

  // Three reports of 20 records each, back to back: 18,000 messages, sliced over turns.
  const rounds = [2, 3, 4];
  for (const seq of rounds) {
    const recs = SYMBOLS.map((s) => record(s, seq));
    for (const r of recs) latest.set(r.symbol, r);
    feed.emit('risk', recs);
  }
  t.equal(conns[299]!.got.length, 0, 'the burst is sliced: the last connection has nothing yet when the event returns');
  // While the slices are pending, a control reply for one connection must queue behind them.
  hub.onMessage(clients[299]!, new TextEncoder().encode(JSON.stringify({ op: 'ping', id: 'p' })).buffer as ArrayBuffer, false);
  await new Promise((r) => setTimeout(r, 200));

  const bad: string[] = [];
  for (const [k, conn] of conns.entries()) {
    const msgs = conn.got.map((x) => JSON.parse(x) as { type: string; channel: string; seq: number; data: { seq: number } });
    const data = msgs.filter((m) => m.type === 'update');
    if (data.length !== 60) bad.push(`conn ${k}: ${data.length} updates`);
    for (const s of SYMBOLS) {
      const ch = data.filter((m) => m.channel === `risk.${s}`);
      // The snapshot was seq 1 (sent at subscribe); the three updates follow contiguously.
      const seqs = ch.map((m) => m.seq).join();
      const recs = ch.map((m) => m.data.seq).join();
      if (seqs !== '2,3,4' || recs !== '2,3,4') bad.push(`conn ${k} ${s}: seq ${seqs}, records ${recs}`);
    }
    if (k === 299 && msgs.at(-1)?.type !== 'pong') bad.push(`conn ${k}: last is ${msgs.at(-1)?.type}`);
    if (conn.writesOutsideCork !== 0 && k !== 299) bad.push(`conn ${k}: ${conn.writesOutsideCork} writes outside a cork`);
  }
  t.same(bad.slice(0, 5), [], 'every connection: 60 updates, per channel seq 2,3,4 in order; the pong after them');
  t.ok(conns.every((c) => c.corked <= 3 + 1), 'at most one cork per connection per report');
  // Byte-exact against the reference envelope.
  const r = latest.get('S7/USD')!;
  const reference = envelopeJson('update', new Outgoing('risk.S7/USD', r, false), 4, true, false, 0);
  t.ok(conns.every((c) => c.got.includes(reference)), 'the pre-encoded update is byte-identical to the reference envelope');
});
