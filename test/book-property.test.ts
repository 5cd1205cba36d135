/**
 * OrderBook (actors/book.ts) against an obviously-correct reference book, on random Kraken v2
 * message streams written as JSON text and decoded by both parser paths.
 *
 * Reference: per side a Map of canonical price text → qty text (values exact through BigInt
 * scaled integers), levels applied in wire order (qty 0 deletes), each side truncated to the
 * subscribed depth, checksum computed naively from the rendered strings with zlib.crc32
 * (kraken-v2.md §6–§7).
 *
 * Reproduce a failure with FC_SEED=<seed printed in the test output> npx tap test/book-property.test.ts
 */
import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { ApplyResult, OrderBook, type BookSide } from '../actors/book.js';
import { LevelBatch } from '../actors/levels.js';
import { BookScanner, fillBatchFromObject, parseLossless } from '../adapters/kraken/parser.js';

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Math.floor(Math.random() * 0x7fffffff);
const RUNS = process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : 1;


// ------------------------------------------------------------------ exact decimal helpers

const P10 = (p: number) => 10n ** BigInt(p);

/** Exact text of `units × 10^-precision` with exactly `precision` fraction digits. */
function fmtUnits(units: bigint, precision: number): string {
  const s = units.toString().padStart(precision + 1, '0');
  return precision === 0 ? s : `${s.slice(0, -precision)}.${s.slice(-precision)}`;
}

/** Wire text (plain or exponent form) → integer units at `precision`; throws if digits would be lost. */
function parseExact(text: string, precision: number): bigint {
  const m = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (m === null) throw new Error(`reference cannot parse ${text}`);
  const frac = m[2] ?? '';
  const mantissa = BigInt(m[1]! + frac);
  const scale = frac.length - Number(m[3] ?? '0');
  if (scale <= precision) return mantissa * P10(precision - scale);
  const d = P10(scale - precision);
  if (mantissa % d !== 0n) throw new Error(`reference: ${text} has digits beyond precision ${precision}`);
  return mantissa / d;
}

const digits = (text: string) => text.replace('.', '').replace(/^0+/, '');

// ------------------------------------------------------------------ reference book

interface WireLevel {
  side: 'bids' | 'asks';
  price: string; // wire text, unquoted
  qty: string;
  quotePrice: boolean;
  quoteQty: boolean;
}

class RefBook {
  readonly bids = new Map<string, string>();
  readonly asks = new Map<string, string>();

  constructor(
    readonly depth: number,
    readonly pp: number,
    readonly qp: number,
  ) {}

  apply(isSnapshot: boolean, levels: readonly WireLevel[]): void {
    if (isSnapshot) {
      this.bids.clear();
      this.asks.clear();
    }
    for (const lv of levels) {
      const side = this[lv.side];
      const price = fmtUnits(parseExact(lv.price, this.pp), this.pp);
      const qty = parseExact(lv.qty, this.qp);
      if (qty === 0n) side.delete(price);
      else side.set(price, fmtUnits(qty, this.qp));
    }
    for (const name of ['bids', 'asks'] as const) {
      const kept = this.sorted(name).slice(0, this.depth);
      this[name].clear();
      for (const [p, q] of kept) this[name].set(p, q);
    }
  }

  /** Best first: bids by price descending, asks ascending. */
  sorted(name: 'bids' | 'asks'): [string, string][] {
    const val = (p: string) => BigInt(p.replace('.', ''));
    return [...this[name].entries()].sort(([a], [b]) => {
      const d = val(a) - val(b);
      const asc = d < 0n ? -1 : d > 0n ? 1 : 0;
      return name === 'asks' ? asc : -asc;
    });
  }

  checksum(): number {
    let s = '';
    for (const [p, q] of this.sorted('asks').slice(0, 10)) s += digits(p) + digits(q);
    for (const [p, q] of this.sorted('bids').slice(0, 10)) s += digits(p) + digits(q);
    return zlib.crc32(Buffer.from(s, 'latin1'));
  }
}

/** An OrderBook side as exact text, read through its public key/hi/lo/n fields. */
function bookSide(side: BookSide, pp: number, qp: number): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < side.n; i++) {
    const key = side.key[i]!;
    const hi = side.hi[i]!;
    const lo = side.lo[i]!;
    assert.ok(Number.isSafeInteger(key) && Number.isSafeInteger(hi) && Number.isSafeInteger(lo), `non-integer level ${key}/${hi}/${lo}`);
    assert.ok(lo >= 0 && BigInt(lo) < P10(qp), `lo ${lo} out of range for qty precision ${qp}`);
    out.push([fmtUnits(BigInt(Math.abs(key)), pp), fmtUnits(BigInt(hi) * P10(qp) + BigInt(lo), qp)]);
  }
  return out;
}

// ------------------------------------------------------------------ stream generation

type Kind = 'modify' | 'delete' | 'insert' | 'deleteAbsent' | 'insertDeep' | 'insertTop' | 'repeat';

interface QtySpec {
  hiDigits: number;
  hiR: bigint;
  loR: bigint;
  tz: number;
  special: string | null;
}
interface Style {
  /** 0..99 draws compared with the run's rates. */
  strip: number;
  quote: number;
  exp: number;
  expUpper: boolean;
  keepDotZero: boolean;
}
interface Op {
  kind: Kind;
  side: 0 | 1;
  r: number;
  qty: QtySpec;
  zero: number;
  priceStyle: Style;
  qtyStyle: Style;
}
interface Msg {
  snapshot: boolean;
  ops: Op[];
}
interface Scenario {
  pp: number;
  qp: number;
  depth: 10 | 25 | 100;
  midExp: number;
  midR: number;
  stripRate: number;
  quoteRate: number;
  expRate: number;
  snap: { nb: number; na: number; seed: number; shuffle: boolean };
  messages: Msg[];
}

const SPECIAL_QTYS = ['117218485.35700187', '32590983.16132537', '987654321.98765432', '99999999.99999999', '0.00000001', '13600.00000000', '1098.3947558'];

const styleArb: fc.Arbitrary<Style> = fc.record({
  strip: fc.integer({ min: 0, max: 99 }),
  quote: fc.integer({ min: 0, max: 99 }),
  exp: fc.integer({ min: 0, max: 99 }),
  expUpper: fc.boolean(),
  keepDotZero: fc.boolean(),
});
const qtyArb: fc.Arbitrary<QtySpec> = fc.record({
  hiDigits: fc.integer({ min: 0, max: 9 }),
  hiR: fc.bigInt({ min: 0n, max: 10n ** 9n }),
  loR: fc.bigInt({ min: 0n, max: 10n ** 10n - 1n }),
  tz: fc.integer({ min: 0, max: 10 }),
  special: fc.option(fc.constantFrom(...SPECIAL_QTYS), { freq: 8 }),
});
const kindArb: fc.Arbitrary<Kind> = fc.oneof(
  { arbitrary: fc.constant<Kind>('modify'), weight: 5 },
  { arbitrary: fc.constant<Kind>('delete'), weight: 4 },
  { arbitrary: fc.constant<Kind>('insert'), weight: 5 },
  { arbitrary: fc.constant<Kind>('deleteAbsent'), weight: 1 },
  { arbitrary: fc.constant<Kind>('insertDeep'), weight: 2 },
  { arbitrary: fc.constant<Kind>('insertTop'), weight: 2 },
  { arbitrary: fc.constant<Kind>('repeat'), weight: 1 },
);
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: kindArb,
  side: fc.constantFrom<0 | 1>(0, 1),
  r: fc.nat(),
  qty: qtyArb,
  zero: fc.integer({ min: 0, max: 3 }),
  priceStyle: styleArb,
  qtyStyle: styleArb,
});
const msgArb: fc.Arbitrary<Msg> = fc.record({
  snapshot: fc.oneof({ arbitrary: fc.constant(false), weight: 30 }, { arbitrary: fc.constant(true), weight: 1 }),
  ops: fc.oneof({ arbitrary: fc.array(opArb, { maxLength: 6 }), weight: 4 }, { arbitrary: fc.array(opArb, { minLength: 10, maxLength: 60 }), weight: 1 }),
});
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  pp: fc.integer({ min: 0, max: 9 }),
  qp: fc.integer({ min: 0, max: 10 }),
  depth: fc.constantFrom<10 | 25 | 100>(10, 25, 100),
  midExp: fc.integer({ min: 0, max: 14 }),
  midR: fc.nat(),
  stripRate: fc.integer({ min: 0, max: 100 }),
  quoteRate: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 })),
  expRate: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 30 }), weight: 1 }),
  snap: fc.record({
    nb: fc.oneof({ arbitrary: fc.constant(-1), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 105 }), weight: 1 }),
    na: fc.oneof({ arbitrary: fc.constant(-1), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 105 }), weight: 1 }),
    seed: fc.nat(),
    shuffle: fc.boolean(),
  }),
  messages: fc.array(msgArb, { minLength: 1, maxLength: 25 }),
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Render units at `precision` as wire text in the given style (may drop trailing zeros or use an exponent). */
function renderNumber(units: bigint, precision: number, st: Style, sc: Scenario): { text: string; quoted: boolean; exp: boolean } {
  const quoted = st.quote < sc.quoteRate;
  if (st.exp < sc.expRate) {
    let text: string;
    if (units === 0n) text = st.expUpper ? '0E0' : '0e-08';
    else {
      const all = units.toString();
      const sig = all.replace(/0+$/, '');
      const e = all.length - 1 - precision;
      const mant = sig.length > 1 ? `${sig[0]}.${sig.slice(1)}` : sig;
      const es = st.keepDotZero ? `${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}` : String(e); // python-like 1e-05 / js-like 1e-5
      text = `${mant}${st.expUpper ? 'E' : 'e'}${es}`;
    }
    return { text, quoted, exp: true };
  }
  let text = fmtUnits(units, precision);
  if (st.strip < sc.stripRate && precision > 0) {
    text = text.replace(/0+$/, '');
    if (text.endsWith('.')) text = st.keepDotZero ? `${text}0` : text.slice(0, -1);
  }
  return { text, quoted, exp: false };
}

function qtyUnits(q: QtySpec, qp: number): bigint {
  if (q.special !== null) {
    const frac = q.special.split('.')[1] ?? '';
    if (frac.replace(/0+$/, '').length <= qp) return parseExact(q.special, qp);
  }
  let hi = 0n;
  if (q.hiDigits > 0) {
    const lo = P10(q.hiDigits - 1);
    hi = lo + (q.hiR % (P10(q.hiDigits) - lo));
  }
  let lo = q.loR % P10(qp);
  const tz = Math.min(q.tz, qp);
  lo = (lo / P10(tz)) * P10(tz);
  const units = hi * P10(qp) + lo;
  return units === 0n ? P10(Math.min(tz, Math.max(qp - 1, 0))) : units;
}

interface Frame {
  isSnapshot: boolean;
  levels: WireLevel[];
  hasExp: boolean;
}

/**
 * Turn a scenario into frames. The generator tracks which prices exist (wire order within a
 * message, truncation at its end) only to aim its operations at existing / absent / deep levels.
 */
function buildFrames(sc: Scenario): { frames: Frame[]; stats: Record<Kind | 'snapshotLevels', number> } {
  const span = sc.depth * 3 + 100;
  let mid = BigInt(Math.floor((1 + (sc.midR % 9) + (Math.floor(sc.midR / 9) % 1000) / 1000) * 10 ** sc.midExp));
  const minMid = BigInt(2 * span + 2);
  const maxMid = 10n ** 15n - 1_000_000n;
  if (mid < minMid) mid = minMid;
  if (mid > maxMid) mid = maxMid;
  const stats = { modify: 0, delete: 0, insert: 0, deleteAbsent: 0, insertDeep: 0, insertTop: 0, repeat: 0, snapshotLevels: 0 };
  const work: [Set<bigint>, Set<bigint>] = [new Set<bigint>(), new Set<bigint>()]; // bids, asks (ticks)
  const sortedBest = (s: 0 | 1) => [...work[s]!].sort((a, b) => (s === 0 ? (a > b ? -1 : a < b ? 1 : 0) : a < b ? -1 : a > b ? 1 : 0));
  const truncate = () => {
    for (const s of [0, 1] as const) {
      const keep = sortedBest(s).slice(0, sc.depth);
      work[s] = new Set(keep);
    }
  };
  const rng = mulberry32(sc.snap.seed);
  const frames: Frame[] = [];

  const level = (side: 0 | 1, ticks: bigint, units: bigint, ps: Style, qs: Style) => {
    const p = renderNumber(ticks, sc.pp, ps, sc);
    const q = renderNumber(units, sc.qp, qs, sc);
    return { lv: { side: side === 0 ? 'bids' : 'asks', price: p.text, qty: q.text, quotePrice: p.quoted, quoteQty: q.quoted } as WireLevel, exp: p.exp || q.exp };
  };
  const randomStyle = (): Style => ({
    strip: Math.floor(rng() * 100),
    quote: Math.floor(rng() * 100),
    exp: Math.floor(rng() * 100),
    expUpper: rng() < 0.5,
    keepDotZero: rng() < 0.5,
  });
  const randomQty = (): QtySpec => ({
    hiDigits: Math.floor(rng() * 10),
    hiR: BigInt(Math.floor(rng() * 1e9)),
    loR: BigInt(Math.floor(rng() * 1e10)),
    tz: Math.floor(rng() * 11),
    special: rng() < 0.05 ? SPECIAL_QTYS[Math.floor(rng() * SPECIAL_QTYS.length)]! : null,
  });

  const snapshot = (): Frame => {
    work[0].clear();
    work[1].clear();
    const levels: WireLevel[] = [];
    let hasExp = false;
    for (const s of [0, 1] as const) {
      const n = (s === 0 ? sc.snap.nb : sc.snap.na) < 0 ? sc.depth : Math.min(s === 0 ? sc.snap.nb : sc.snap.na, sc.depth + 5);
      let tick = s === 0 ? mid - 1n : mid;
      const side: WireLevel[] = [];
      for (let i = 0; i < n; i++) {
        if (i > 0) tick += (s === 0 ? -1n : 1n) * BigInt(1 + Math.floor(rng() * 3));
        work[s]!.add(tick);
        const l = level(s, tick, qtyUnits(randomQty(), sc.qp), randomStyle(), randomStyle());
        hasExp ||= l.exp;
        side.push(l.lv);
      }
      if (sc.snap.shuffle) side.sort(() => rng() - 0.5);
      levels.push(...side);
    }
    stats.snapshotLevels += levels.length;
    truncate();
    return { isSnapshot: true, levels, hasExp };
  };

  frames.push(snapshot());
  for (const m of sc.messages) {
    if (m.snapshot) {
      frames.push(snapshot());
      continue;
    }
    const levels: WireLevel[] = [];
    const used: [bigint[], bigint[]] = [[], []];
    let hasExp = false;
    for (const op of m.ops) {
      const s = op.side;
      const set = work[s]!;
      const best = sortedBest(s);
      const absentInBand = (): bigint => {
        const lo = s === 0 ? mid - BigInt(span) : mid;
        let tick = lo + BigInt(op.r % span);
        for (let k = 0; k < span && set.has(tick); k++) tick = lo + ((tick - lo + 1n) % BigInt(span));
        return tick;
      };
      let kind: Kind = op.kind;
      if ((kind === 'modify' || kind === 'delete') && best.length === 0) kind = 'insert';
      if (kind === 'repeat' && used[s].length === 0) kind = 'modify';
      if (kind === 'modify' && best.length === 0) kind = 'insert';
      let tick: bigint;
      let zero = false;
      switch (kind) {
        case 'modify':
          tick = best[op.r % best.length]!;
          break;
        case 'delete':
          tick = best[op.r % best.length]!;
          zero = true;
          break;
        case 'deleteAbsent':
          tick = absentInBand();
          zero = true;
          break;
        case 'insertDeep': {
          const worst = best.length > 0 ? best[best.length - 1]! : s === 0 ? mid - 1n : mid;
          tick = s === 0 ? worst - BigInt(1 + (op.r % 20)) : worst + BigInt(1 + (op.r % 20));
          if (tick < 1n) tick = absentInBand();
          break;
        }
        case 'insertTop': {
          const top = best.length > 0 ? best[0]! : s === 0 ? mid - 1n : mid;
          tick = s === 0 ? top + BigInt(1 + (op.r % 5)) : top - BigInt(1 + (op.r % 5));
          if (tick < 1n) tick = absentInBand();
          break;
        }
        case 'repeat':
          tick = used[s][op.r % used[s].length]!;
          zero = op.r % 3 === 0;
          break;
        default:
          tick = absentInBand();
      }
      stats[kind]++;
      const units = zero ? 0n : qtyUnits(op.qty, sc.qp);
      const qStyle = zero ? { ...op.qtyStyle, strip: op.zero === 0 ? 0 : 99, keepDotZero: op.zero === 1 } : op.qtyStyle;
      const zeroSc = zero && op.zero === 3 ? { ...sc, stripRate: 100 } : sc; // "0" / "0.0" / padded zeros
      const l = level(s, tick, units, op.priceStyle, qStyle);
      if (zero && zeroSc !== sc && !l.exp) l.lv.qty = '0';
      hasExp ||= l.exp;
      levels.push(l.lv);
      used[s].push(tick);
      if (zero) set.delete(tick);
      else set.add(tick);
    }
    truncate();
    frames.push({ isSnapshot: false, levels, hasExp });
  }
  return { frames, stats };
}

let tsCounter = 0;
function frameText(f: Frame, checksum: number | null): string {
  const lv = (l: WireLevel) => {
    const p = l.quotePrice ? `"${l.price}"` : l.price;
    const q = l.quoteQty ? `"${l.qty}"` : l.qty;
    return `{"price":${p},"qty":${q}}`;
  };
  const bids = f.levels.filter((l) => l.side === 'bids').map(lv).join(',');
  const asks = f.levels.filter((l) => l.side === 'asks').map(lv).join(',');
  const us = 1_785_000_000_000_000 + ++tsCounter * 1_234_567;
  const ts = `${new Date(Math.floor(us / 1000)).toISOString().slice(0, -1)}${String(us % 1000).padStart(3, '0')}Z`;
  const c = checksum === null ? '' : `,"checksum":${checksum}`;
  return `{"channel":"book","type":"${f.isSnapshot ? 'snapshot' : 'update'}","data":[{"symbol":"ABC/USD","bids":[${bids}],"asks":[${asks}]${c},"timestamp":"${ts}"}]}`;
}

// ------------------------------------------------------------------ system under test

const scanner = new BookScanner();
const scanBatch = new LevelBatch(8);
const lossBatch = new LevelBatch(8);

function batchJson(b: LevelBatch): string {
  const lv: number[][] = [];
  for (let i = 0; i < b.count; i++) lv.push([b.side[i]!, b.pInt[i]!, b.pFrac[i]!, b.pLen[i]!, b.qInt[i]!, b.qFrac[i]!, b.qLen[i]!]);
  return JSON.stringify([b.symbol, b.isSnapshot, b.checksum, b.eventTimeUs, lv]);
}

interface RunTotals {
  runs: number;
  messages: number;
  checks: number;
  scanned: number;
  fellBack: number;
  levels: number;
  kinds: Record<string, number>;
}
const totals: RunTotals = { runs: 0, messages: 0, checks: 0, scanned: 0, fellBack: 0, levels: 0, kinds: {} };

/**
 * Feed the scenario through both paths and compare with the reference after every message.
 * `corruptAt` ≥ 0: that frame carries a wrong checksum (xor `mask`) and must be reported as
 * CHECKSUM_MISMATCH; the run stops there.
 */
function runScenario(sc: Scenario, corruptAt = -1, mask = 0): void {
  const { frames, stats } = buildFrames(sc);
  totals.runs++;
  for (const [k, v] of Object.entries(stats)) totals.kinds[k] = (totals.kinds[k] ?? 0) + v;
  const ref = new RefBook(sc.depth, sc.pp, sc.qp);
  const fast = new OrderBook(sc.depth, sc.pp, sc.qp); // scanner, else general path (as the session does)
  const slow = new OrderBook(sc.depth, sc.pp, sc.qp); // general path only
  for (const [i, f] of frames.entries()) {
    ref.apply(f.isSnapshot, f.levels);
    const refCrc = ref.checksum();
    const sent = i === corruptAt ? (refCrc ^ mask) >>> 0 : refCrc;
    const text = frameText(f, sent);
    const where = `message ${i} (${f.isSnapshot ? 'snapshot' : 'update'}, pp=${sc.pp} qp=${sc.qp} depth=${sc.depth}): ${text.length > 600 ? `${text.slice(0, 600)}…` : text}`;
    totals.messages++;
    totals.levels += f.levels.length;

    // decode: general path always; scanner must read every frame without exponent numbers
    const msg = parseLossless(text) as { type: string; data: Record<string, unknown>[] };
    assert.equal(msg.data.length, 1);
    assert.equal(fillBatchFromObject(msg.data[0]!, msg.type === 'snapshot', lossBatch), null, `lossless decode failed: ${where}`);
    const scanned = scanner.scan(Buffer.from(text), scanBatch);
    assert.equal(scanned, !f.hasExp, `scanner ${scanned ? 'read' : 'declined'} ${where}`);
    if (scanned) {
      totals.scanned++;
      assert.equal(batchJson(scanBatch), batchJson(lossBatch), `scanner and lossless batches differ: ${where}`);
    } else totals.fellBack++;
    assert.equal(lossBatch.checksum, sent);
    assert.equal(lossBatch.count, f.levels.length);

    const rFast = fast.apply(scanned ? scanBatch : lossBatch);
    const rSlow = slow.apply(lossBatch);
    totals.checks += 4;

    // levels: the whole kept book, exact text, both sides
    const want = { bids: ref.sorted('bids'), asks: ref.sorted('asks') };
    assert.deepEqual({ bids: bookSide(fast.bids, sc.pp, sc.qp), asks: bookSide(fast.asks, sc.pp, sc.qp) }, want, `scanner-path book levels differ after ${where}`);
    assert.deepEqual({ bids: bookSide(slow.bids, sc.pp, sc.qp), asks: bookSide(slow.asks, sc.pp, sc.qp) }, want, `general-path book levels differ after ${where}`);
    totals.checks += 2;

    if (i === corruptAt) {
      assert.equal(rFast, ApplyResult.CHECKSUM_MISMATCH, `wrong checksum not reported (scanner path): ${where}`);
      assert.equal(rSlow, ApplyResult.CHECKSUM_MISMATCH, `wrong checksum not reported (general path): ${where}`);
      assert.equal(fast.crc, refCrc, 'the computed checksum is still the true one');
      totals.checks += 3;
      return;
    }
    assert.equal(fast.crc, refCrc, `scanner-path checksum ${fast.crc} != reference ${refCrc} after ${where}`);
    assert.equal(slow.crc, refCrc, `general-path checksum ${slow.crc} != reference ${refCrc} after ${where}`);
    assert.equal(rFast, ApplyResult.OK, `scanner-path ApplyResult ${rFast} after ${where}`);
    assert.equal(rSlow, ApplyResult.OK, `general-path ApplyResult ${rSlow} after ${where}`);
    totals.checks += 4;
  }
}

function assertProperty<T>(t: { pass(m: string): unknown; fail(m: string): unknown }, prop: fc.IProperty<T>, numRuns: number): void {
  const params = { numRuns: numRuns * RUNS, seed: SEED };
  try {
    fc.assert(prop, params);
    t.pass(`${params.numRuns} random streams (seed ${SEED})`);
  } catch (err) {
    t.fail(`property failed (reproduce with FC_SEED=${SEED}):\n${(err as Error).message.slice(0, 6000)}`);
  }
}

t.comment(`fast-check seed ${SEED} (set FC_SEED to reproduce, FC_RUNS to multiply the run count)`);

// ------------------------------------------------------------------ properties

t.test('book - random Kraken message streams: OrderBook equals the reference book after every message (checksum, levels, ApplyResult OK)', async (t) => {
  const before = { ...totals, kinds: { ...totals.kinds } };
  assertProperty(
    t,
    fc.property(scenarioArb, (sc) => {
      runScenario(sc);
    }),
    300,
  );
  const kinds = Object.entries(totals.kinds)
    .map(([k, v]) => `${k}=${v - (before.kinds[k] ?? 0)}`)
    .join(' ');
  t.comment(
    `messages=${totals.messages - before.messages} levels=${totals.levels - before.levels} scanner=${totals.scanned - before.scanned} fallback=${totals.fellBack - before.fellBack} ` +
      `internal checks=${totals.checks - before.checks}; ${kinds}`,
  );
  t.ok(totals.fellBack - before.fellBack > 0, 'some frames took the general path (exponent numbers)');
  t.ok(totals.scanned - before.scanned > 0, 'most frames took the scanner');
});

t.test('book - a wrong checksum in the frame is always reported as CHECKSUM_MISMATCH', async (t) => {
  assertProperty(
    t,
    fc.property(scenarioArb, fc.nat(), fc.integer({ min: 1, max: 0xffffffff }), (sc, at, mask) => {
      runScenario(sc, at % (sc.messages.length + 1), mask);
    }),
    150,
  );
});

t.test('book - depth 10/25/100 with precisions 0–9 / 0–10: full snapshots only, checksum of every snapshot', async (t) => {
  // dense coverage of the precision grid with one snapshot each
  let n = 0;
  for (let pp = 0; pp <= 9; pp++) {
    for (let qp = 0; qp <= 10; qp++) {
      for (const depth of [10, 25, 100] as const) {
        runScenario({
          pp,
          qp,
          depth,
          midExp: (pp * 3 + qp) % 15,
          midR: pp * 1000 + qp * 17 + depth,
          stripRate: (pp * 10 + qp * 7) % 101,
          quoteRate: qp % 3 === 0 ? 10 : 0,
          expRate: 0,
          snap: { nb: -1, na: -1, seed: pp * 100 + qp * 10 + depth, shuffle: depth === 25 },
          messages: [],
        });
        n++;
      }
    }
  }
  t.equal(n, 10 * 11 * 3);
});

// ------------------------------------------------------------------ deterministic specifications

const decode = (text: string): LevelBatch => {
  const b = new LevelBatch();
  if (scanner.scan(Buffer.from(text), b)) return b;
  const m = parseLossless(text) as { type: string; data: Record<string, unknown>[] };
  const err = fillBatchFromObject(m.data[0]!, m.type === 'snapshot', b);
  if (err !== null) throw new Error(err);
  return b;
};
const frame = (type: string, bids: string, asks: string) => `{"channel":"book","type":"${type}","data":[{"symbol":"ABC/USD","bids":[${bids}],"asks":[${asks}]}]}`;

t.test('book - frames with trailing zeros stripped give the same book and checksum as padded frames', async (t) => {
  const padded = new OrderBook(10, 4, 8);
  const stripped = new OrderBook(10, 4, 8);
  padded.apply(decode(frame('snapshot', '{"price":0.5660,"qty":18097.15470000},{"price":0.5650,"qty":1.00000000}', '{"price":0.5670,"qty":4.00000000}')));
  stripped.apply(decode(frame('snapshot', '{"price":0.566,"qty":18097.1547},{"price":0.565,"qty":1}', '{"price":0.567,"qty":4.0}')));
  t.equal(stripped.crc, padded.crc);
  t.equal(padded.crc, zlib.crc32('5670' + '400000000' + '5660' + '1809715470000' + '5650' + '100000000'));
  t.same(bookSide(stripped.bids, 4, 8), [
    ['0.5660', '18097.15470000'],
    ['0.5650', '1.00000000'],
  ]);
});

t.test('book - a value with non-zero digits beyond the precision is PRECISION; zero digits beyond it are accepted', async (t) => {
  t.equal(new OrderBook(10, 1, 8).apply(decode(frame('snapshot', '{"price":100.05,"qty":1.0}', ''))), ApplyResult.PRECISION, 'price 100.05 at precision 1');
  t.equal(new OrderBook(10, 1, 8).apply(decode(frame('snapshot', '{"price":100.0,"qty":0.000000001}', ''))), ApplyResult.PRECISION, 'qty 1e-9 at precision 8');
  const b = new OrderBook(10, 1, 8);
  t.equal(b.apply(decode(frame('snapshot', '{"price":100.000,"qty":1.0000000000}', ''))), ApplyResult.OK, 'zeros beyond the precision');
  t.same(bookSide(b.bids, 1, 8), [['100.0', '1.00000000']]);
});

t.test('book - 16–17 significant-digit quantities stay exact (117218485.35700187 at qty precision 8)', async (t) => {
  const b = new OrderBook(10, 5, 8);
  t.equal(b.apply(decode(frame('snapshot', '{"price":0.00012,"qty":117218485.35700187}', '{"price":0.00013,"qty":987654321.98765432}'))), ApplyResult.OK);
  t.equal(b.bids.hi[0], 117218485);
  t.equal(b.bids.lo[0], 35700187);
  t.same(bookSide(b.asks, 5, 8), [['0.00013', '987654321.98765432']]);
  t.equal(b.crc, zlib.crc32('13' + '98765432198765432' + '12' + '11721848535700187'));
  // a double cannot hold it: the naive Number().toFixed(8) path gets it wrong
  t.not(Number('987654321.98765432').toFixed(8), '987654321.98765432');
});

t.test('book - deleting a level that is not in the book is a no-op', async (t) => {
  const b = new OrderBook(10, 1, 8);
  b.apply(decode(frame('snapshot', '{"price":10.0,"qty":1.0}', '{"price":11.0,"qty":1.0}')));
  const crc = b.crc;
  t.equal(b.apply(decode(frame('update', '{"price":9.5,"qty":0.0},{"price":10.5,"qty":0}', '{"price":12.0,"qty":0.00000000}'))), ApplyResult.OK);
  t.equal(b.crc, crc);
  t.equal(b.bids.n, 1);
  t.equal(b.asks.n, 1);
});

t.test('book - several changes to the same price in one message apply in wire order', async (t) => {
  const b = new OrderBook(10, 1, 8);
  b.apply(decode(frame('snapshot', '{"price":10.0,"qty":1.0}', '{"price":11.0,"qty":1.0}')));
  b.apply(decode(frame('update', '{"price":10.0,"qty":0.0},{"price":10.0,"qty":2.5},{"price":9.0,"qty":3},{"price":9.0,"qty":0},{"price":9.0,"qty":4}', '')));
  t.same(bookSide(b.bids, 1, 8), [
    ['10.0', '2.50000000'],
    ['9.0', '4.00000000'],
  ]);
  b.apply(decode(frame('update', '{"price":8.0,"qty":1},{"price":8.0,"qty":0}', '')));
  t.equal(b.bids.n, 2, 'insert then delete in one message leaves nothing');
});

t.test('book - a message larger than the free capacity (snapshot of depth + 40 levels) is truncated correctly', async (t) => {
  const bids = Array.from({ length: 140 }, (_, i) => `{"price":${1000 - i}.0,"qty":1.0}`).join(',');
  const b = new OrderBook(100, 1, 8);
  t.equal(b.apply(decode(frame('snapshot', bids, '{"price":1001.0,"qty":1.0}'))), ApplyResult.OK);
  t.equal(b.bids.n, 100);
  t.equal(bookSide(b.bids, 1, 8)[99]![0], '901.0');
});

// ------------------------------------------------------------------ regression

t.test('book - a book whose bid side is empty checksums the asks alone (found by the property above)', async (t) => {
  const b = new OrderBook(10, 1, 8);
  b.apply(decode(frame('snapshot', '', '{"price":10.5,"qty":1.00000000}')));
  t.equal(b.crc, zlib.crc32('105100000000'), 'asks-only snapshot: CRC of the ask digits');
  const ref = new RefBook(10, 1, 8);
  ref.apply(true, [{ side: 'asks', price: '10.5', qty: '1.00000000', quotePrice: false, quoteQty: false }]);
  t.equal(ref.checksum(), zlib.crc32('105100000000'), 'the reference agrees with the hand-computed value');
});
