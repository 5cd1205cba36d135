/**
 * Attribution of a checksum mismatch seen in the end-to-end benchmark: was the engine wrong,
 * or did the exchange send a frame whose checksum does not follow from the frames it sent?
 *
 * bench/e2e-exchange.ts records every batch it writes. When the engine reports a mismatch
 * for a symbol, this module replays that symbol's book frames from the recording through a
 * reference book that shares no code with actors/ (text levels keyed by integer ticks,
 * Kraken's documented semantics: levels applied in wire order, qty 0 deletes, truncation to
 * the subscribed depth at the end of each message, a snapshot starts over) and the literal
 * checksum of bench/generator.ts (`referenceChecksum`). A frame whose wire checksum differs
 * from the reference's is inconsistent as sent: a simulator fault, not an engine one.
 */
import { readFileSync } from 'node:fs';
import { referenceChecksum, type TextLevel } from './generator.js';

export interface InconsistentFrame {
  /** 1-based position among this symbol's book frames in the recording. */
  n: number;
  type: string;
  wireChecksum: number;
  referenceChecksum: number;
  text: string;
}

export interface SymbolVerification {
  symbol: string;
  frames: number;
  snapshots: number;
  /** Frames whose wire checksum the reference book does not reproduce (first 10). */
  inconsistent: InconsistentFrame[];
  inconsistentCount: number;
}

/** Text payloads of the WebSocket text frames in a recording of server → client batches. */
export function* recordedFrames(buf: Buffer): Generator<string> {
  let o = 0;
  while (o + 2 <= buf.length) {
    if (buf[o] !== 0x81) throw new Error(`recording: no text frame at byte ${o}`);
    let len = buf[o + 1]!;
    let p = o + 2;
    if (len === 126) {
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = buf.readUInt32BE(p + 4);
      p += 8;
    }
    if (p + len > buf.length) throw new Error(`recording: truncated frame at byte ${o}`);
    yield buf.toString('latin1', p, p + len);
    o = p + len;
  }
}

interface RefLevel {
  ticks: number;
  price: string;
  qty: string;
}

/** One side of the reference book, best first. */
class RefSide {
  levels: RefLevel[] = [];
  constructor(private readonly bid: boolean) {}
  private better(a: number, b: number): boolean {
    return this.bid ? a > b : a < b;
  }
  set(price: string, qty: string): void {
    const ticks = Number(price.replace('.', ''));
    if (!Number.isSafeInteger(ticks)) throw new Error(`reference book: price ${price} is not exact`);
    const zero = !/[1-9]/.test(qty);
    const i = this.levels.findIndex((l) => !this.better(l.ticks, ticks));
    const at = i < 0 ? this.levels.length : i;
    const hit = this.levels[at]?.ticks === ticks;
    if (zero) {
      if (hit) this.levels.splice(at, 1);
    } else if (hit) this.levels[at] = { ticks, price, qty };
    else this.levels.splice(at, 0, { ticks, price, qty });
  }
  truncate(depth: number): void {
    if (this.levels.length > depth) this.levels.length = depth;
  }
  top10(): TextLevel[] {
    return this.levels.slice(0, 10).map((l) => ({ price: l.price, qty: l.qty }));
  }
}

interface WireBook {
  channel: string;
  type: string;
  data: { symbol: string; bids: { price: string; qty: string }[]; asks: { price: string; qty: string }[]; checksum: number }[];
}

/** Replay the book frames of `symbols` from a recording (numbers kept as their wire text). */
export function verifyRecording(file: string, symbols: readonly string[], depth: number): SymbolVerification[] {
  const want = new Set(symbols);
  const out = new Map<string, SymbolVerification & { bids: RefSide; asks: RefSide }>();
  for (const s of symbols) out.set(s, { symbol: s, frames: 0, snapshots: 0, inconsistent: [], inconsistentCount: 0, bids: new RefSide(true), asks: new RefSide(false) });
  for (const text of recordedFrames(readFileSync(file))) {
    if (!text.startsWith('{"channel":"book"')) continue;
    const m = /"symbol":"([^"]+)"/.exec(text);
    if (m === null || !want.has(m[1]!)) continue;
    const msg = JSON.parse(text.replace(/"(price|qty)":(-?[0-9.eE+]+)/g, '"$1":"$2"')) as WireBook;
    for (const d of msg.data) {
      const v = out.get(d.symbol);
      if (v === undefined) continue;
      v.frames++;
      if (msg.type === 'snapshot') {
        v.snapshots++;
        v.bids = new RefSide(true);
        v.asks = new RefSide(false);
      }
      for (const l of d.bids) v.bids.set(l.price, l.qty);
      for (const l of d.asks) v.asks.set(l.price, l.qty);
      v.bids.truncate(depth);
      v.asks.truncate(depth);
      const ref = referenceChecksum(v.asks.top10(), v.bids.top10());
      if (ref !== d.checksum) {
        v.inconsistentCount++;
        if (v.inconsistent.length < 10) v.inconsistent.push({ n: v.frames, type: msg.type, wireChecksum: d.checksum, referenceChecksum: ref, text: text.length > 600 ? `${text.slice(0, 600)}…` : text });
      }
    }
  }
  return [...out.values()].map(({ bids: _b, asks: _a, ...v }) => v);
}
