/** The hand-written risk encoder is msgpackr-compatible and never overwrites bytes it handed out. */
import t from 'tap';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { emptyMarketRisk, MARKET_RISK_KEYS, type MarketRisk } from '../actors/risk.js';
import { createRiskDecoder, createRiskEncoder, riskStructures } from '../adapters/nats/codec.js';

const num = fc.oneof(
  fc.constant(null),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: -1000, max: 1000 }),
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.maxSafeNat(),
  fc.constantFrom(0, 63, 64, 100, 127, 128, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, -32, -33, 1.5e15 + 1),
);
const record = fc.record({
  symbol: fc.string({ minLength: 1, maxLength: 40 }),
  health: fc.constantFrom('SYNCING', 'LIVE', 'RESYNCING', 'STALE', 'HALTED', 'REJECTED'),
  seq: fc.maxSafeNat(),
  quiet: fc.boolean(),
  simulated: fc.boolean(),
  values: fc.array(num, { minLength: 20, maxLength: 20 }),
});

function build(x: { symbol: string; health: string; seq: number; quiet: boolean; simulated: boolean; values: (number | null)[] }): MarketRisk {
  const r = emptyMarketRisk(x.symbol, x.simulated, 1_795_720_000_000_000) as unknown as Record<string, unknown>;
  r.seq = x.seq;
  r.health = x.health;
  r.quiet = x.quiet;
  const numeric = MARKET_RISK_KEYS.filter((k) => !['venue', 'symbol', 'seq', 'epoch', 'health', 'quiet', 'simulated', 'lastTradeSide', 'recvTimeUs', 'checksum', 'depth'].includes(k));
  numeric.forEach((k, i) => (r[k] = x.values[i] ?? null));
  r.lastTradeSide = -1;
  r.recvTimeUs = 1_795_720_000_123_456;
  r.checksum = 3310070434;
  r.depth = 1000;
  return r as unknown as MarketRisk;
}

t.test('codec - every record round-trips through msgpackr and decodes like msgpackr\'s own encoding', async (t) => {
  const enc = createRiskEncoder();
  const dec = createRiskDecoder();
  const packr = new Packr({ structures: riskStructures(), maxSharedStructures: 16, shouldShareStructure: () => false });
  let n = 0;
  fc.assert(
    fc.property(record, (x) => {
      const r = build(x);
      const mine = enc.encode(r);
      const decoded = dec.decode(mine);
      t.same(Object.keys(decoded), [...MARKET_RISK_KEYS]);
      if (JSON.stringify(decoded) !== JSON.stringify(r) || !Object.is(decoded.bid, r.bid)) throw new Error(`round trip differs for ${JSON.stringify(r)}`);
      if (JSON.stringify(dec.decode(packr.pack(r))) !== JSON.stringify(decoded)) throw new Error('differs from msgpackr');
      n++;
    }),
    { numRuns: 500 },
  );
  t.equal(n, 500, '500 random records round-trip');
});

t.test('codec - bytes handed out are never overwritten (publishers flush later)', async (t) => {
  const enc = createRiskEncoder();
  const dec = createRiskDecoder();
  const r = emptyMarketRisk('BTC/USD', false, 1);
  const out: Uint8Array[] = [];
  for (let i = 0; i < 5000; i++) {
    r.seq = i;
    r.mid = i + 0.5;
    out.push(enc.encode(r));
  }
  let bad = 0;
  out.forEach((b, i) => {
    const d = dec.decode(b);
    if (d.seq !== i || d.mid !== i + 0.5) bad++;
  });
  t.equal(bad, 0, '5000 records held at once all still decode to what was encoded');
});
