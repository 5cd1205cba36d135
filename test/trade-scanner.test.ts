/** The trade frame scanner agrees with the general (lossless JSON) path and declines odd shapes. */
import t from 'tap';
import { isTickerFrame, parseLossless, TradeBatch, TradeScanner } from '../adapters/kraken/parser.js';
import { createReplaySession } from '../adapters/kraken/session.js';
import { fixtureLines } from './helpers/fixtures.js';

const docsTrade = fixtureLines('docs-examples.ndjson').find((l) => l.includes('"channel":"trade"'))!;
const docsTicker = fixtureLines('docs-examples.ndjson').find((l) => l.includes('"channel":"ticker","type"'))!;

function viaLossless(text: string) {
  const m = parseLossless(text) as { data: Record<string, string>[] };
  return m.data.map((d) => ({ symbol: d.symbol, side: d.side === 'buy' ? 1 : -1, price: Number(d.price), qty: Number(d.qty) }));
}
function viaScanner(text: string) {
  const b = new TradeBatch();
  if (!new TradeScanner().scan(Buffer.from(text), b)) return null;
  return Array.from({ length: b.count }, (_, i) => ({ symbol: b.symbol[i], side: b.side[i], price: b.price[i], qty: b.qty[i] }));
}

t.test('trade scanner - reads Kraken\'s documented trade message like the general path', async (t) => {
  t.same(viaScanner(docsTrade), viaLossless(docsTrade));
  t.same(viaScanner(docsTrade), [{ symbol: 'MATIC/USD', side: -1, price: 0.5117, qty: 40 }]);
});

t.test('trade scanner - batched trades, snapshot type, exact nearest doubles', async (t) => {
  const frame =
    '{"channel":"trade","type":"snapshot","data":[' +
    '{"symbol":"BTC/USD","side":"buy","price":45283.5,"qty":0.10000000,"ord_type":"limit","trade_id":1,"timestamp":"2026-08-16T23:37:03.745044Z"},' +
    '{"symbol":"BTC/USD","side":"sell","price":45283.4,"qty":1.54582015,"ord_type":"market","trade_id":2,"timestamp":"2026-08-16T23:37:03.745045Z"}]}';
  const s = viaScanner(frame)!;
  t.same(s, viaLossless(frame));
  t.equal(s[1]!.price, 45283.4, 'price is the double nearest the decimal');
  const b = new TradeBatch();
  new TradeScanner().scan(Buffer.from(frame), b);
  t.equal(b.timeUs[0], Date.parse('2026-08-16T23:37:03.745Z') * 1000 + 44);
});

t.test('trade scanner - declines shapes it does not know; the general path still reads them', async (t) => {
  const variants = [
    docsTrade.replace('"qty":40.0', '"qty":4e1'),
    docsTrade.replace('"ord_type"', '"extra":1,"ord_type"'),
    docsTrade.replace('{"channel":"trade","type":"update",', '{"type":"update","channel":"trade",'),
    docsTrade.replace('"side":"sell"', '"side":"SELL"'),
    docsTrade.replace(',"data"', ', "data"'),
  ];
  for (const v of variants) {
    t.equal(viaScanner(v), null, `declined: ${v.slice(0, 60)}…`);
    t.doesNotThrow(() => parseLossless(v));
  }
});

t.test('session - trades update the last trade; tickers are counted; a truncated ticker is malformed', async (t) => {
  const session = createReplaySession({ depth: 10, clock: { nowUs: () => 1 }, onRisk: () => undefined });
  session.onFrame(Buffer.from(docsTrade), 1);
  session.onFrame(Buffer.from(docsTicker), 2);
  session.onFrame(Buffer.from(docsTicker.slice(0, 40)), 3);
  t.equal(session.counters.tickers, 1);
  t.equal(session.counters.malformed, 1);
  t.ok(isTickerFrame(Buffer.from(docsTicker)));
  t.notOk(isTickerFrame(Buffer.from(docsTicker.slice(0, 40))));
});
