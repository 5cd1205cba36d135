/**
 * Slow consumers: a real client that stops reading its socket (the TCP connection stays up,
 * the kernel buffers fill, then the gateway's send buffer) is switched to latest-value-only
 * delivery and, past the hard limit, closed with 4001 — while a fast client on the same
 * channels keeps receiving every update with contiguous sequence numbers.
 */
import t from 'tap';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { loadConfig } from '../engine/config.js';
import { gatewayMetrics } from '../engine/metrics.js';
import { startEngine } from '../engine/runtime.js';
import { eventually } from './helpers/eventually.js';
import { sequenceProblems, StreamClient } from './helpers/gateway-client.js';
import { memoryLogger } from './helpers/logger.js';

const pairs = defaultSimPairs(8);
const symbols = pairs.map((p) => p.symbol);
const sim = await startSimExchange({ pairs, bookRatePerSymbol: 100, seed: 5 });
const CONFLATE = 64 * 1024;
const CLOSE = 512 * 1024;
const config = loadConfig({
  env: {},
  overrides: {
    port: 0,
    gatewayHost: '127.0.0.1',
    workers: 1,
    bookDepth: 100,
    logLevel: 'warn',
    logSummaryMs: 0,
    // Large, frequent book messages so a stalled reader fills its buffers within seconds.
    gatewayBookLevels: 50,
    gatewayBookIntervalMs: 20,
    gatewayConflateBytes: CONFLATE,
    gatewayCloseBytes: CLOSE,
    gatewayConflateIntervalMs: 100,
  },
});
const engine = await startEngine(config, memoryLogger('warn'), { krakenUrl: sim.url, symbols, simulated: true });
const port = engine.gateway!.port;
const hub = engine.gateway!.hub;
const url = `ws://127.0.0.1:${port}/v1/stream`;

t.teardown(async () => {
  await engine.stop();
  await sim.close();
});

const count = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values.reduce((n, v) => n + v.value, 0);

t.test('gateway slow client - a stalled reader is conflated, then closed past the hard limit; a fast client on the same channels gets every update', async (t) => {
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 20_000, 'engine ready');
  const conflationsBefore = await count(gatewayMetrics.conflations);
  const closesBefore = await count(gatewayMetrics.slowClientCloses);

  const fast = await StreamClient.open(url);
  const stalled = await StreamClient.open(url);
  const channels = ['book.*', 'risk.*'];
  fast.send({ op: 'subscribe', id: 'f', channels });
  stalled.send({ op: 'subscribe', id: 's', channels });
  await eventually(() => symbols.every((s) => stalled.channel(`book.${s}`).length > 0 && fast.channel(`book.${s}`).length > 0), 10_000, 'snapshots');
  const stalledId = hub.info().find((i) => i.id === Math.max(...hub.info().map((x) => x.id)))!.id;
  // Stop reading: the socket stays open, nothing is consumed.
  stalled.ws.pause();
  (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const t0 = Date.now();

  let sawLatest = false;
  let maxBuffered = 0;
  await eventually(
    () => {
      const me = hub.info().find((i) => i.id === stalledId);
      if (me !== undefined) {
        if (me.latest) sawLatest = true;
        maxBuffered = Math.max(maxBuffered, me.buffered);
      }
      return me === undefined;
    },
    30_000,
    'the stalled client closed',
    10,
  );
  const closedAfter = Date.now() - t0;
  t.ok(sawLatest, 'the stalled client was switched to latest-value-only delivery first');
  t.equal((await count(gatewayMetrics.conflations)) - conflationsBefore, 1, 'one conflation counted (aether_gateway_conflations_total)');
  t.equal((await count(gatewayMetrics.slowClientCloses)) - closesBefore, 1, 'one slow-client close counted (aether_gateway_slow_client_closes_total)');
  t.ok(maxBuffered <= CLOSE + 64 * 1024, `its send buffer stayed bounded near the hard limit: max ${maxBuffered} bytes`);
  t.comment(`stalled client closed ${closedAfter} ms after it stopped reading`);

  // The fast client: every update, in order, never conflated — checked against the server's
  // own count of what it offered on each channel.
  const info = hub.info().find((i) => i.id !== stalledId)!;
  await eventually(() => Object.entries(info.channels).every(([ch, s]) => (fast.channel(ch).at(-1)?.seq ?? 0) >= s.seq), 10_000, 'fast client caught up');
  let offered = 0;
  for (const [ch, s] of Object.entries(info.channels)) {
    t.equal(s.skipped, 0, `${ch}: nothing skipped for the fast client`);
    t.equal(s.seq, s.offered + 1, `${ch}: snapshot + every one of ${s.offered} updates delivered`);
    offered += s.offered;
    const msgs = fast.channel(ch).filter((m) => m.seq! <= s.seq);
    t.same(sequenceProblems(msgs), [], `${ch}: the fast client saw seq 1..${s.seq} contiguous, never conflated`);
  }
  t.ok(offered > 1000, `${offered} updates went to the fast client meanwhile`);
  t.equal(info.latest, false, 'the fast client was never conflated');

  // Reading again, the stalled client gets what was buffered: contiguous seq, the conflated
  // messages flagged, then the 4001 close frame.
  (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  stalled.ws.resume();
  const closed = await stalled.closed;
  t.equal(closed.code, 4001, `closed with 4001 (${closed.reason})`);
  let flagged = 0;
  for (const s of symbols) {
    const msgs = stalled.channel(`book.${s}`);
    t.same(sequenceProblems(msgs, { allowConflated: true }), [], `book.${s}: seq contiguous (${msgs.length} messages)`);
    flagged += msgs.filter((m) => m.conflated === true && m.skipped! > 0).length;
  }
  t.ok(flagged > 0, `${flagged} book messages marked conflated with their skipped count`);
  fast.close();
});
