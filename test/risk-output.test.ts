/** Risk output: sequence numbers, conflation to a maximum rate, encoding. */
import t from 'tap';
import { InstrumentActor } from '../actors/instrument.js';
import { createRiskDecoder } from '../adapters/nats/codec.js';
import { systemClock } from '../engine/clock.js';
import { RiskOutput } from '../engine/risk-output.js';
import { riskSubject } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';

const decoder = createRiskDecoder();

function sink() {
  const got: { subject: string; seq: number; lastTradePrice: number | null }[] = [];
  return {
    got,
    publish(subject: string, payload: Uint8Array) {
      const r = decoder.decode(payload);
      got.push({ subject, seq: r.seq, lastTradePrice: r.lastTradePrice });
    },
  };
}

t.test('risk output - without a rate limit every change is published with contiguous seq', async (t) => {
  const s = sink();
  const out = new RiskOutput(s, 'ns1', 0, systemClock);
  const a = new InstrumentActor('BTC/USD', 10, false, 1);
  for (let i = 1; i <= 50; i++) {
    a.onTrade(100 + i, 1, 1, -1, i);
    out.offer(a);
  }
  t.equal(s.got.length, 50);
  t.same(s.got.map((g) => g.seq), Array.from({ length: 50 }, (_, i) => i + 1));
  t.equal(s.got[0]!.subject, riskSubject('ns1', 'BTC/USD'));
  t.equal(s.got[0]!.subject, 'ns1.risk.v1.kraken.BTC-USD');
});

t.test('risk output - with a maximum rate, bursts are conflated to the latest value', async (t) => {
  const s = sink();
  const out = new RiskOutput(s, '', 20, systemClock); // at most one per 50 ms per symbol
  const a = new InstrumentActor('ETH/USD', 10, false, 1);
  const b = new InstrumentActor('SOL/USD', 10, false, 1);
  for (let i = 1; i <= 200; i++) {
    a.onTrade(i, 1, 1, -1, i);
    out.offer(a);
    b.onTrade(1000 + i, 1, 1, -1, i);
    out.offer(b);
  }
  t.equal(s.got.length, 2, 'first change of each symbol goes out at once');
  await eventually(() => s.got.length === 4, 2_000, 'trailing publishes');
  const lastA = s.got.filter((g) => g.subject.endsWith('ETH-USD')).at(-1)!;
  const lastB = s.got.filter((g) => g.subject.endsWith('SOL-USD')).at(-1)!;
  t.equal(lastA.lastTradePrice, 200, 'the trailing publish carries the latest state');
  t.equal(lastB.lastTradePrice, 1200);
  t.equal(lastA.seq, 2, 'seq counts published records, so conflation leaves no gap');
  t.equal(out.conflated, 398, 'superseded updates are counted');
  await new Promise((r) => setTimeout(r, 120));
  t.equal(s.got.length, 4, 'nothing more without changes');
});

t.test('risk output - flush publishes what the rate limiter still holds (shutdown)', async (t) => {
  const s = sink();
  const out = new RiskOutput(s, '', 1, systemClock);
  const a = new InstrumentActor('BTC/USD', 10, false, 1);
  a.onTrade(1, 1, 1, -1, 1);
  out.offer(a);
  a.onTrade(2, 1, 1, -1, 2);
  out.offer(a);
  t.equal(s.got.length, 1);
  out.flush();
  t.equal(s.got.length, 2);
  t.equal(s.got[1]!.lastTradePrice, 2);
});
