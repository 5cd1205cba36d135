/**
 * Kraken v2 frame decoding (adapters/kraken/parser.ts) and the session's frame entry point.
 *
 * - BookScanner (byte fast path) vs parseLossless + fillBatchFromObject (general path) on
 *   every frame of both fixtures;
 * - frames outside the scanner's canonical shape fall back and still decode correctly;
 * - malformed input never throws from KrakenSession.onFrame and is counted;
 * - decimal parsing (parseDecimal, toScaled, fracToPrecision, formatScaled) and timestamps.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { DecimalParts, formatScaled, fracToPrecision, MAX_FRACTION_DIGITS, parseDecimal, toScaled } from '../actors/decimal.js';
import { LevelBatch, Side } from '../actors/levels.js';
import { BookHealth } from '../actors/risk.js';
import type { InstrumentActor } from '../actors/instrument.js';
import { BookScanner, fillBatchFromObject, looksLikeBook, parseLossless, parseTimestampText, parseTimestampUs } from '../adapters/kraken/parser.js';
import { KrakenSession, type SessionOptions } from '../adapters/kraken/session.js';
import type { Log } from '../engine/ports.js';
import { fixtureLines } from './helpers/fixtures.js';

const readLines = fixtureLines;
const btcLines = readLines('btcusd-d10-python-kraken-sdk.ndjson');
const docsLines = readLines('docs-examples.ndjson');

// ------------------------------------------------------------------ helpers

interface PlainLevel {
  side: number;
  pInt: number;
  pFrac: number;
  pLen: number;
  qInt: number;
  qFrac: number;
  qLen: number;
}
interface PlainBatch {
  symbol: string;
  isSnapshot: boolean;
  checksum: number;
  eventTimeUs: number;
  levels: PlainLevel[];
}

function plain(b: LevelBatch): PlainBatch {
  const levels: PlainLevel[] = [];
  for (let i = 0; i < b.count; i++) {
    levels.push({ side: b.side[i]!, pInt: b.pInt[i]!, pFrac: b.pFrac[i]!, pLen: b.pLen[i]!, qInt: b.qInt[i]!, qFrac: b.qFrac[i]!, qLen: b.qLen[i]! });
  }
  return { symbol: b.symbol, isSnapshot: b.isSnapshot, checksum: b.checksum, eventTimeUs: b.eventTimeUs, levels };
}

/** Levels grouped per side, wire order kept within a side (order across sides is irrelevant to a book). */
function perSide(b: PlainBatch): Omit<PlainBatch, 'levels'> & { bids: PlainLevel[]; asks: PlainLevel[] } {
  const { levels, ...rest } = b;
  return { ...rest, bids: levels.filter((l) => l.side === Side.BID), asks: levels.filter((l) => l.side === Side.ASK) };
}

const scanner = new BookScanner();

/** Scanner result: null when it declines the frame. */
function scan(text: string): PlainBatch | null {
  const b = new LevelBatch(4); // small capacity: exercises LevelBatch.grow on snapshots
  return scanner.scan(Buffer.from(text), b) ? plain(b) : null;
}

/** General path: one batch per data element; throws on an unreadable element. */
function lossless(text: string): PlainBatch[] {
  const msg = parseLossless(text) as { type: string; data: Record<string, unknown>[] };
  return msg.data.map((el) => {
    const b = new LevelBatch(4);
    const err = fillBatchFromObject(el, msg.type === 'snapshot', b);
    if (err !== null) throw new Error(err);
    return plain(b);
  });
}

function losslessError(text: string): string | null {
  const msg = parseLossless(text) as { type: string; data: Record<string, unknown>[] };
  return fillBatchFromObject(msg.data[0]!, msg.type === 'snapshot', new LevelBatch());
}

interface Harness {
  session: KrakenSession;
  logs: { level: string; msg?: string }[];
  risks: { symbol: string; health: string }[];
  statuses: string[];
}

function makeSession(opts: Partial<SessionOptions> = {}, symbols: string[] = []): Harness {
  const logs: Harness['logs'] = [];
  const risks: Harness['risks'] = [];
  const statuses: string[] = [];
  const log: Log = {
    debug: (_o, msg) => logs.push({ level: 'debug', msg }),
    info: (_o, msg) => logs.push({ level: 'info', msg }),
    warn: (_o, msg) => logs.push({ level: 'warn', msg }),
    error: (_o, msg) => logs.push({ level: 'error', msg }),
  };
  const session = new KrakenSession(symbols, {
    depth: 10,
    simulated: false,
    mode: 'replay',
    clock: { nowUs: () => 1_700_000_000_000_000 },
    timers: { setTimeout: () => null, clearTimeout: () => {} },
    log,
    onRisk: (a: InstrumentActor) => risks.push({ symbol: a.symbol, health: a.health }),
    send: () => {},
    onStatus: (s) => statuses.push(s),
    autoCreate: true,
    precision: new Map([
      ['BTC/USD', { price: 1, qty: 8 }],
      ['MATIC/USD', { price: 4, qty: 8 }],
    ]),
    ...opts,
  });
  return { session, logs, risks, statuses };
}

const counted = (s: KrakenSession) => s.counters.malformed + s.counters.unexpected;

// A representative update frame from the real stream (quantities as floats: 0.0, 0.8, 0.001).
const BASE = btcLines[1]!;

// ------------------------------------------------------------------ scanner vs lossless on fixtures

t.test('parser - scanner and lossless path give identical LevelBatches for every book frame of both fixtures', async (t) => {
  let compared = 0;
  let declined = 0;
  let different = 0;
  const firstDiff: string[] = [];
  for (const line of [...btcLines, ...docsLines]) {
    const isBook = (JSON.parse(line) as { channel?: string }).channel === 'book';
    const s = scan(line);
    if (!isBook) {
      if (s !== null) firstDiff.push(`scanner accepted a non-book frame: ${line.slice(0, 60)}`);
      continue;
    }
    if (s === null) {
      declined++;
      continue;
    }
    const l = lossless(line);
    compared++;
    if (l.length !== 1 || JSON.stringify(s) !== JSON.stringify(l[0])) {
      different++;
      if (firstDiff.length < 3) firstDiff.push(line.slice(0, 120));
    }
  }
  t.equal(compared, 510 + 3, 'every book frame was read by the scanner (510 BTC/USD stream + 3 docs frames)');
  t.equal(declined, 0);
  t.equal(different, 0, firstDiff.join('\n'));
  t.same(firstDiff, []);
});

t.test('parser - fixture frames decode to the exact wire decimals', async (t) => {
  // docs guide frame: numbers printed as JSON strings, no timestamp
  const guide = scan(docsLines[0]!)!;
  t.equal(guide.symbol, 'BTC/USD');
  t.equal(guide.isSnapshot, true);
  t.equal(guide.checksum, 3310070434);
  t.equal(guide.eventTimeUs, -1, 'no timestamp key → -1');
  t.equal(guide.levels.length, 20);
  t.same(guide.levels[0], { side: Side.BID, pInt: 45283, pFrac: 5, pLen: 1, qInt: 0, qFrac: 10000000, qLen: 8 }, '"45283.5" / "0.10000000"');
  t.same(guide.levels[10], { side: Side.ASK, pInt: 45285, pFrac: 2, pLen: 1, qInt: 0, qFrac: 100000, qLen: 8 }, '"45285.2" / "0.00100000"');
  // real stream update: 0.0 deletes, 0.8 and 0.001 keep their short text
  const upd = scan(BASE)!;
  t.equal(upd.isSnapshot, false);
  t.equal(upd.eventTimeUs, Date.UTC(2023, 6, 30, 15, 29, 58) * 1000 + 343415);
  t.same(
    upd.levels.map((l) => [l.side, l.pInt, l.pFrac, l.pLen, l.qInt, l.qFrac, l.qLen]),
    [
      [Side.ASK, 29431, 1, 1, 0, 0, 1],
      [Side.ASK, 29433, 3, 1, 0, 8, 1],
      [Side.ASK, 29430, 6, 1, 0, 1, 3],
    ],
  );
});

t.test('parser - non-book frames are declined by the scanner and looksLikeBook', async (t) => {
  for (const line of docsLines.filter((l) => !l.startsWith('{"channel":"book"'))) {
    t.equal(looksLikeBook(Buffer.from(line)), false, line.slice(0, 40));
    t.equal(scan(line), null);
  }
});

// ------------------------------------------------------------------ fallbacks

interface Variant {
  name: string;
  text: string;
  /** Whether the scanner reads it (true) or must decline (false). */
  scans: boolean;
  /** Expected decoded element(s), compared per side. */
  expect: PlainBatch[];
}

const base = lossless(BASE)[0]!;
const withLevel = (b: PlainBatch, i: number, patch: Partial<PlainLevel>): PlainBatch => ({ ...b, levels: b.levels.map((l, k) => (k === i ? { ...l, ...patch } : l)) });
const BASE_BODY = BASE.slice(BASE.indexOf('"data":[') + 8, -2); // the single book element
const INNER = BASE_BODY.slice(1, -1); // element without braces

const variants: Variant[] = [
  {
    name: 'top-level keys reordered (type before channel)',
    text: `{"type":"update","channel":"book","data":[${BASE_BODY}]}`,
    scans: false,
    expect: [base],
  },
  {
    name: 'data before channel/type',
    text: `{"data":[${BASE_BODY}],"channel":"book","type":"update"}`,
    scans: false,
    expect: [base],
  },
  {
    name: 'whitespace after separators',
    text: BASE.replace(/,"/g, ', "').replace(/":/g, '": '),
    scans: false,
    expect: [base],
  },
  { name: 'leading whitespace', text: ` ${BASE}`, scans: false, expect: [base] },
  { name: 'trailing newline', text: `${BASE}\n`, scans: false, expect: [base] },
  { name: 'trailing CRLF', text: `${BASE}\r\n`, scans: false, expect: [base] },
  {
    name: 'exponent number 1e-05 (qty)',
    text: BASE.replace('"qty":0.001', '"qty":1e-05'),
    scans: false,
    expect: [withLevel(base, 2, { qInt: 0, qFrac: 1, qLen: 5 })],
  },
  {
    name: 'exponent number 1E-8 and 2.9431e+4 (price)',
    text: BASE.replace('"qty":0.001', '"qty":1E-8').replace('"price":29433.3', '"price":2.94333e+4'),
    scans: false,
    expect: [withLevel(withLevel(base, 2, { qInt: 0, qFrac: 1, qLen: 8 }), 1, { pInt: 29433, pFrac: 3, pLen: 1 })],
  },
  {
    name: 'exponent zero 0E0 as a delete',
    text: BASE.replace('"qty":0.0', '"qty":0E0'),
    scans: false,
    expect: [withLevel(base, 0, { qInt: 0, qFrac: 0, qLen: 0 })],
  },
  {
    name: 'quoted checksum',
    text: BASE.replace('"checksum":3547452596', '"checksum":"3547452596"'),
    scans: false,
    expect: [base],
  },
  {
    name: 'two data elements',
    text: `{"channel":"book","type":"update","data":[${BASE_BODY},${BASE_BODY.replace('BTC/USD', 'ETH/USD')}]}`,
    scans: false,
    expect: [base, { ...base, symbol: 'ETH/USD' }],
  },
  {
    name: 'extra key in the book element',
    text: BASE.replace('"checksum":', '"sequence":12,"checksum":'),
    scans: false,
    expect: [base],
  },
  {
    name: 'extra key in a level',
    text: BASE.replace('"qty":0.8}', '"qty":0.8,"orders":3}'),
    scans: false,
    expect: [base],
  },
  {
    name: 'extra top-level key after data',
    text: `${BASE.slice(0, -1)},"extra":{"a":[1,2]}}`,
    scans: false,
    expect: [base],
  },
  {
    name: 'extra top-level key before data',
    text: BASE.replace('"type":"update",', '"type":"update","v":2,'),
    scans: false,
    expect: [base],
  },
  {
    name: 'price with 16 integer digits (beyond the scanner, within 2^53)',
    text: BASE.replace('"price":29433.3', '"price":1234567890123456.0'),
    scans: false,
    expect: [withLevel(base, 1, { pInt: 1234567890123456, pFrac: 0, pLen: 1 })],
  },
  // The scanner is documented to accept these (element keys in any order; numbers bare or
  // quoted), so they stay on the fast path and must decode identically.
  {
    name: 'quoted numbers (as in the v2 checksum guide) — read by the scanner',
    text: BASE.replace(/"(price|qty)":([0-9.]+)/g, '"$1":"$2"'),
    scans: true,
    expect: [base],
  },
  {
    name: 'book element keys reordered — read by the scanner',
    text: `{"channel":"book","type":"update","data":[{"timestamp":"2023-07-30T15:29:58.343415Z","checksum":3547452596,"asks":${INNER.slice(
      INNER.indexOf('"asks":') + 7,
      INNER.indexOf(',"checksum"'),
    )},"bids":[],"symbol":"BTC/USD"}]}`,
    scans: true,
    expect: [base],
  },
  {
    name: 'level keys reordered (qty before price) — read by the scanner',
    text: BASE.replace(/\{"price":([0-9.]+),"qty":([0-9.]+)\}/g, '{"qty":$2,"price":$1}'),
    scans: true,
    expect: [base],
  },
];

for (const v of variants) {
  t.test(`parser - ${v.name}: scanner ${v.scans ? 'reads it' : 'falls back'} and the general path decodes it`, async (t) => {
    t.equal(JSON.parse(v.text) !== null, true, 'the variant is valid JSON');
    const s = scan(v.text);
    t.equal(s !== null, v.scans, v.scans ? 'scanner reads it' : 'scan returns false');
    if (s !== null) t.same(perSide(s), perSide(v.expect[0]!), 'scanner batch');
    const l = lossless(v.text);
    t.equal(l.length, v.expect.length);
    for (let i = 0; i < v.expect.length; i++) t.same(perSide(l[i]!), perSide(v.expect[i]!), `lossless element ${i}`);
  });
}

t.test('parser - a whole fixture stream re-indented (JSON.stringify spacing) decodes identically through the general path', async (t) => {
  let same = 0;
  for (const line of btcLines) {
    // re-indent without touching number text: insert spaces/newlines around structural characters
    const pretty = line.replace(/([{[,])/g, '$1\n  ').replace(/":/g, '" : ');
    if (scan(pretty) !== null) continue;
    if (JSON.stringify(lossless(pretty)) === JSON.stringify([scan(line)])) same++;
  }
  t.equal(same, 510);
});

t.test('parser - values the general path must refuse (and the scanner must not read)', async (t) => {
  const cases: [string, string][] = [
    ['16 fraction digits', BASE.replace('"qty":0.001', '"qty":0.0010000000000001')],
    ['negative price', BASE.replace('"price":29433.3', '"price":-29433.3')],
    ['negative qty', BASE.replace('"qty":0.8', '"qty":-0.8')],
    ['price not a number', BASE.replace('"price":29433.3', '"price":"abc"')],
    ['price null', BASE.replace('"price":29433.3', '"price":null')],
    ['qty missing', BASE.replace(',"qty":0.8', '')],
    ['checksum too large', BASE.replace('"checksum":3547452596', '"checksum":"42949672960"')],
    ['checksum negative', BASE.replace('"checksum":3547452596', '"checksum":-1')],
    ['asks not an array', BASE.replace(/"asks":\[.*?\]/, '"asks":{}')],
    ['level not an object', BASE.replace('"bids":[]', '"bids":[1]')],
    ['symbol missing', BASE.replace('"symbol":"BTC/USD",', '')],
    ['exponent too small (1e-16)', BASE.replace('"qty":0.001', '"qty":1e-16')],
  ];
  for (const [name, text] of cases) {
    t.equal(scan(text), null, `${name}: scanner declines`);
    t.type(losslessError(text), 'string', `${name}: fillBatchFromObject reports an error`);
  }
});

t.test('parser - scanner declines a JSON-escaped symbol ("BTC\\/USD"); the general path decodes it', async (t) => {
  // Valid JSON: "\/" is an escaped "/". The scanner only reads Kraken's exact shape and
  // leaves escapes to JSON.parse.
  const text = BASE.replace('"symbol":"BTC/USD"', '"symbol":"BTC\\/USD"');
  t.equal(lossless(text)[0]!.symbol, 'BTC/USD', 'general path');
  const s = scan(text);
  t.ok(s === null || s.symbol === 'BTC/USD', `scanner must decline or decode (got ${s === null ? 'null' : JSON.stringify(s.symbol)})`);
});

// ------------------------------------------------------------------ malformed input through the session

t.test('session - malformed frames never throw from onFrame and are counted', async (t) => {
  const { session } = makeSession();
  const frames: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['truncated JSON', Buffer.from(BASE.slice(0, 100))],
    ['truncated after the prefix', Buffer.from('{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1')],
    ['garbage bytes', Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22, 0x80])],
    ['negative price', Buffer.from('{"channel":"book","type":"update","data":[{"symbol":"X","bids":[{"price":-1,"qty":1}]}]}')],
    ['not an object (number)', Buffer.from('42')],
    ['not an object (array)', Buffer.from('[1,2,3]')],
    ['null', Buffer.from('null')],
    ['unknown channel', Buffer.from('{"channel":"nope","data":[]}')],
    ['book without data', Buffer.from('{"channel":"book","type":"update"}')],
    ['book with bad type', Buffer.from('{"channel":"book","type":"delta","data":[]}')],
    ['book with a null element', Buffer.from('{"channel":"book","type":"update","data":[null]}')],
    ['book element without symbol', Buffer.from('{"channel":"book","type":"update","data":[{"bids":[]}]}')],
    ['book level null', Buffer.from('{"channel":"book","type":"update","data":[{"symbol":"X","bids":[null]}]}')],
    ['book price 1e999', Buffer.from('{"channel":"book","type":"update","data":[{"symbol":"X","bids":[{"price":1e999,"qty":1}]}]}')],
    ['instrument without pairs', Buffer.from('{"channel":"instrument","type":"snapshot","data":{}}')],
    ['trade data not an array', Buffer.from('{"channel":"trade","type":"update","data":7}')],
    ['trade with zero price', Buffer.from('{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","price":0,"qty":1}]}')],
    ['lone surrogate / invalid UTF-8 in a string', Buffer.concat([Buffer.from('{"channel":"book","type":"update","data":[{"symbol":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","bids":[{"price":1.0,"qty":1.0}]}]}')])],
  ];
  // the trade frame needs a known actor to be counted: create BTC/USD from its snapshot
  session.onFrame(Buffer.from(btcLines[0]!), 1);
  for (const [name, buf] of frames) {
    const before = counted(session);
    t.doesNotThrow(() => session.onFrame(buf, 2), name);
    if (name.startsWith('lone surrogate')) continue; // decodes to U+FFFD: a valid (unknown-symbol) book frame
    t.equal(counted(session) - before, 1, `${name}: counted once in malformed/unexpected`);
  }
  t.equal(session.counters.frames, frames.length + 1);
});

t.test('session - every truncation of a book frame, and random garbage, never throws and is counted as malformed', async (t) => {
  const { session } = makeSession();
  const line = btcLines[0]!;
  let threw = 0;
  for (let n = 0; n < line.length; n++) {
    try {
      session.onFrame(Buffer.from(line.slice(0, n)), n);
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0);
  t.equal(session.counters.malformed, line.length, 'each proper prefix is invalid JSON → malformed');
  t.equal(session.actors.size, 0, 'no actor was created from a partial frame');
  const before = counted(session);
  let garbage = 0;
  for (let k = 0; k < 300; k++) {
    const buf = randomBytes(1 + Math.floor(Math.random() * 200));
    try {
      session.onFrame(buf, k);
      garbage++;
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0);
  t.equal(counted(session) - before, garbage, 'every random frame counted');
});

t.test('session - random byte mutations of real frames never throw and never corrupt the book silently', async (t) => {
  const { session } = makeSession();
  let threw = 0;
  for (let k = 0; k < 2000; k++) {
    const src = Buffer.from(btcLines[1 + (k % 509)]!);
    const buf = Buffer.from(src);
    const flips = 1 + (k % 3);
    for (let f = 0; f < flips; f++) buf[Math.floor(Math.random() * buf.length)] = Math.floor(Math.random() * 256);
    try {
      session.onFrame(buf, k);
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, 'onFrame never threw');
  // after any amount of garbage, a snapshot restores a verified book
  session.onFrame(Buffer.from(btcLines[0]!), 1e9);
  const a = session.actors.get('BTC/USD')!;
  t.equal(a.health, BookHealth.LIVE);
  t.equal(a.book!.crc, 2785033588);
});

t.test('session - garbage interleaved with the real stream leaves all 510 checksums verified', async (t) => {
  const { session } = makeSession();
  const junk = ['', '{', 'null', '{"channel":"book","type":"update","data":[{"symbol":"ZZZ', '\u0000\u0001', '{"channel":"heartbeat"}'];
  for (const [i, line] of btcLines.entries()) {
    session.onFrame(Buffer.from(line), i);
    session.onFrame(Buffer.from(junk[i % junk.length]!), i);
  }
  const a = session.actors.get('BTC/USD')!;
  t.equal(a.counters.checksumsVerified, 510);
  t.equal(a.counters.checksumMismatches, 0);
  t.equal(a.health, BookHealth.LIVE);
  t.ok(session.counters.malformed > 0);
});

t.test('session - an unreadable book message for a LIVE symbol moves it to RESYNCING', async (t) => {
  const { session, risks } = makeSession();
  session.onFrame(Buffer.from(btcLines[0]!), 1);
  const a = session.actors.get('BTC/USD')!;
  t.equal(a.health, BookHealth.LIVE);
  session.onFrame(Buffer.from('{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":-1,"qty":1}],"asks":[]}]}'), 2);
  t.equal(session.counters.malformed, 1);
  t.equal(a.health, BookHealth.RESYNCING);
  t.equal(a.counters.resyncs, 1);
  t.equal(risks.at(-1)?.health, BookHealth.RESYNCING, 'the transition was published');
});

t.test('session - a 20-digit connection_id in a status frame does not break anything', async (t) => {
  const { session, statuses } = makeSession();
  const status = docsLines.find((l) => l.includes('"connection_id"'))!;
  t.match(status, /"connection_id":13834774380200032777/);
  // the lossless parse keeps the id exact (JSON.parse would round it to ...032000)
  const parsed = parseLossless(status) as { data: { connection_id: string }[] };
  t.equal(parsed.data[0]!.connection_id, '13834774380200032777');
  t.not(String((JSON.parse(status) as { data: { connection_id: number }[] }).data[0]!.connection_id), '13834774380200032777');
  t.doesNotThrow(() => session.onFrame(Buffer.from(status), 1));
  t.equal(session.counters.malformed, 0);
  t.equal(session.counters.unexpected, 0);
  t.equal(session.systemStatus, 'online');
  t.same(statuses, ['online']);
  // and an even larger one, plus a 20-digit trade_id, still parse
  session.onFrame(Buffer.from(status.replace('13834774380200032777', '123456789012345678901234567890')), 2);
  session.onFrame(Buffer.from(btcLines[0]!), 3);
  session.onFrame(Buffer.from('{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":29430.3,"qty":0.1,"ord_type":"limit","trade_id":98765432109876543210,"timestamp":"2023-07-30T15:29:58.343415Z"}]}'), 4);
  t.equal(session.counters.malformed + session.counters.unexpected, 0);
  t.equal(session.counters.trades, 1);
  t.equal(session.actors.get('BTC/USD')!.risk.lastTradePrice, 29430.3);
});

// ------------------------------------------------------------------ decimals

const parts = new DecimalParts();
const render = (p: DecimalParts) => `${p.negative ? '-' : ''}${p.int}${p.fracLen > 0 ? `.${String(p.frac).padStart(p.fracLen, '0')}` : ''}`;

t.test('decimal - parseDecimal round-trips plain decimals exactly (trailing zeros kept)', async (t) => {
  const fixed = ['0', '0.0', '0.00000000', '1', '45283.5', '0.00100000', '117218485.35700187', '32590983.16132537', '9007199254740991', '0.123456789012345', '-12.0340', '1.'];
  for (const s of fixed) {
    t.equal(parseDecimal(s, parts), true, s);
    t.equal(render(parts), s === '1.' ? '1' : s, `${s} round-trips`);
  }
  let bad = 0;
  for (let k = 0; k < 5000; k++) {
    const intDigits = 1 + Math.floor(Math.random() * 15);
    let int = String(1 + Math.floor(Math.random() * 9)) + Array.from({ length: intDigits - 1 }, () => Math.floor(Math.random() * 10)).join('');
    if (Math.random() < 0.2) int = '0';
    const fracLen = Math.floor(Math.random() * (MAX_FRACTION_DIGITS + 1));
    const frac = Array.from({ length: fracLen }, () => Math.floor(Math.random() * 10)).join('');
    const s = fracLen > 0 ? `${int}.${frac}` : int;
    if (!parseDecimal(s, parts) || render(parts) !== s || parts.int !== Number(int) || parts.fracLen !== fracLen) bad++;
  }
  t.equal(bad, 0, '5000 random decimals with up to 15 integer and 15 fraction digits');
});

t.test('decimal - parseDecimal expands exponent forms exactly', async (t) => {
  const cases: [string, string][] = [
    ['1e-05', '0.00001'],
    ['1E-8', '0.00000001'],
    ['5.325e-05', '0.00005325'],
    ['1.5e3', '1500'],
    ['1.5e+3', '1500'],
    ['2.94333e+4', '29433.3'],
    ['0E0', '0'],
    ['1e-15', '0.000000000000001'],
    ['1.50e-2', '0.015'],
    ['123e-2', '1.23'],
  ];
  for (const [s, want] of cases) {
    t.equal(parseDecimal(s, parts), true, s);
    t.equal(render(parts), want, `${s} → ${want}`);
  }
});

t.test('decimal - parseDecimal rejects more than 15 fraction digits and non-decimals', async (t) => {
  for (const s of [
    '0.1234567890123456', // 16 fraction digits
    '1.0000000000000000', // 16, even if zeros
    '1e-16',
    '1.5e-15',
    '',
    '-',
    '.',
    '+1',
    ' 1',
    '1 ',
    '1.2.3',
    'abc',
    '1e',
    '1e+',
    '1e1000',
    '1e300', // exact but beyond 2^53
    '9007199254740992', // 2^53
    '99999999999999999999',
    'NaN',
    'Infinity',
    '0x10',
    '1,5',
  ]) {
    t.equal(parseDecimal(s, parts), false, JSON.stringify(s));
  }
  t.equal(parseDecimal('0.123456789012345', parts), true, 'exactly 15 fraction digits is accepted');
});

t.test('decimal - toScaled, fracToPrecision and formatScaled', async (t) => {
  t.equal(toScaled(12, 340, 4, 4), 120340, '12.0340 at 4 decimals');
  t.equal(toScaled(12, 340, 4, 3), 12034, '12.0340 at 3 decimals (trailing zero dropped)');
  t.equal(toScaled(12, 340, 4, 2), -1, '12.0340 does not fit 2 decimals');
  t.equal(toScaled(12, 300, 4, 2), 1203, '12.0300 at 2 decimals');
  t.equal(toScaled(12, 345, 3, 2), -1, '12.345 does not fit 2 decimals');
  t.equal(toScaled(0, 1, 3, 8), 100000, '0.001 at 8 decimals');
  t.equal(toScaled(45283, 5, 1, 1), 452835);
  t.equal(toScaled(90071992547409, 92, 2, 2), -1, 'beyond 2^53 units');
  t.equal(fracToPrecision(5, 1, 8), 50000000);
  t.equal(fracToPrecision(100, 4, 2), 1, '.0100 → 1 at 2 decimals');
  t.equal(fracToPrecision(101, 4, 2), -1);
  t.equal(fracToPrecision(0, 9, 8), 0, 'zeros beyond the precision are harmless');
  t.equal(formatScaled(1234, 2), '12.34');
  t.equal(formatScaled(5, 3), '0.005');
  t.equal(formatScaled(7, 0), '7');
  t.equal(formatScaled(0, 4), '0.0000');
  t.equal(formatScaled(-5, 2), '-0.05');
  t.equal(formatScaled(452835, 1), '45283.5');
  // formatScaled ∘ toScaled is the padded canonical text
  for (const s of ['0.566', '18097.1547', '0.5657', '1098.3947558']) {
    parseDecimal(s, parts);
    const [pp] = s.startsWith('0.') ? [4] : [8];
    const want = s.includes('.') ? `${s}${'0'.repeat(pp - s.split('.')[1]!.length)}` : s;
    t.equal(formatScaled(toScaled(parts.int, parts.frac, parts.fracLen, pp), pp), want);
  }
});

// ------------------------------------------------------------------ timestamps

const ts = (s: string) => parseTimestampUs(Buffer.from(s), 0, s.length);

t.test('timestamp - parseTimestampUs for 2026-08-16T23:37:03.745044Z', async (t) => {
  const base = Date.UTC(2026, 7, 16, 23, 37, 3) * 1000;
  t.equal(ts('2026-08-16T23:37:03.745044Z'), base + 745044);
  t.equal(parseTimestampText('2026-08-16T23:37:03.745044Z'), base + 745044);
  // inside a larger buffer (offsets)
  const buf = Buffer.from('xx"2026-08-16T23:37:03.745044Z"yy');
  t.equal(parseTimestampUs(buf, 3, 30), base + 745044);
});

t.test('timestamp - fewer, more and no fraction digits', async (t) => {
  const base = Date.UTC(2026, 7, 16, 23, 37, 3) * 1000;
  t.equal(ts('2026-08-16T23:37:03.7Z'), base + 700000);
  t.equal(ts('2026-08-16T23:37:03.745Z'), base + 745000);
  t.equal(ts('2026-08-16T23:37:03.000001Z'), base + 1);
  t.equal(ts('2026-08-16T23:37:03.7450449Z'), base + 745044, '7 digits truncate to µs');
  t.equal(ts('2026-08-16T23:37:03.745044999Z'), base + 745044, '9 digits (ns)');
  t.equal(ts('2026-08-16T23:37:03Z'), base, 'no fraction');
  t.equal(ts('2026-08-16T23:37:03.0Z'), base);
});

t.test('timestamp - shapes that are not RFC 3339 UTC give -1', async (t) => {
  for (const s of [
    '',
    '2026-08-16T23:37:03',
    '2026-08-16 23:37:03Z',
    '2026-08-16T23:37:03.Z',
    '2026-08-16T23:37:03.1234567890Z', // 10 fraction digits
    '2026-08-16T23:37:03+00:00',
    '2026/08/16T23:37:03Z',
    '2026-08-16T23:3a:03Z',
    '2026-08-16T23:37:03.74x044Z',
    'not a timestamp at all, really',
  ]) {
    t.equal(ts(s), -1, JSON.stringify(s));
  }
  t.equal(parseTimestampText('x'.repeat(65)), -1, 'over-long text');
});

t.test('timestamp - agrees with Date.parse across hour/day/year boundaries (hour cache)', async (t) => {
  let bad = 0;
  let prev = 0;
  for (let k = 0; k < 3000; k++) {
    // alternate between far-apart and same-hour times so the hour cache is hit and missed
    const ms = k % 2 === 0 ? Math.floor(Math.random() * 4_102_444_800_000) : prev + Math.floor(Math.random() * 1000);
    prev = ms;
    const us = Math.floor(Math.random() * 1000);
    const iso = new Date(ms).toISOString(); // ...sss Z
    const text = `${iso.slice(0, -1)}${String(us).padStart(3, '0')}Z`;
    if (ts(text) !== ms * 1000 + us) bad++;
    if (ts(iso) !== ms * 1000) bad++;
  }
  t.equal(bad, 0);
  t.equal(ts('2023-12-31T23:59:59.999999Z'), Date.UTC(2024, 0, 1) * 1000 - 1);
  t.equal(ts('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29) * 1000, 'leap day');
});
