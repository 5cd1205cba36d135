/**
 * msgpack encoding of market risk records with a shared structure: the field names travel
 * once, in this code, not in every message. The wire form is msgpackr's record extension
 * (0x40 = shared structure 0, then the values in MARKET_RISK_KEYS order), so consumers decode
 * with `createRiskDecoder()` (msgpackr with the same structures); a plain msgpack decoder
 * cannot read these records.
 *
 * Encoding is hand-written for the one fixed record: measured 0.44 µs against 1.6 µs for
 * msgpackr's generic `pack` of the same record (docs/benchmarks.md), and byte-compatible
 * with it (test/codec.test.ts decodes both with msgpackr).
 */
import { Unpackr } from 'msgpackr';
import { MARKET_RISK_KEYS, type MarketRisk } from '../../actors/risk.js';

/** The shared structures of schema v1 (structure id 0 = MarketRisk). Append-only. */
export function riskStructures(): string[][] {
  return [MARKET_RISK_KEYS.slice() as string[]];
}

export interface RiskEncoder {
  /**
   * Encode one record. The returned bytes are never overwritten by later calls (a publisher
   * may hold them until its next flush): records are written one after another into an
   * arena, and a full arena is replaced, not reused.
   */
  encode(risk: MarketRisk): Uint8Array;
}

const ARENA_BYTES = 64 * 1024;
/** Upper bound of one record: 34 fields × 9 bytes + 3 strings of ≤ 255 bytes + header. */
const MAX_RECORD_BYTES = 34 * 9 + 3 * 257 + 8;
const RECORD_0 = 0x40;

class RiskWriter implements RiskEncoder {
  private buf = Buffer.allocUnsafe(ARENA_BYTES);
  private pos = 0;
  private readonly strings = new Map<string, Buffer>();

  encode(r: MarketRisk): Uint8Array {
    if (this.pos + MAX_RECORD_BYTES > this.buf.length) {
      this.buf = Buffer.allocUnsafe(ARENA_BYTES);
      this.pos = 0;
    }
    const start = this.pos;
    this.buf[this.pos++] = RECORD_0;
    // Field order is MARKET_RISK_KEYS; test/codec.test.ts checks every key round-trips.
    this.str(r.venue);
    this.str(r.symbol);
    this.num(r.seq);
    this.num(r.epoch);
    this.str(r.health);
    this.bool(r.quiet);
    this.bool(r.simulated);
    this.num(r.bid);
    this.num(r.ask);
    this.num(r.bidQty);
    this.num(r.askQty);
    this.num(r.mid);
    this.num(r.microprice);
    this.num(r.spread);
    this.num(r.spreadBps);
    this.num(r.bidDepth10bps);
    this.num(r.askDepth10bps);
    this.num(r.bidDepth50bps);
    this.num(r.askDepth50bps);
    this.num(r.imbalance);
    this.num(r.lastTradePrice);
    this.num(r.lastTradeQty);
    this.num(r.lastTradeSide);
    this.num(r.lastTradeTimeUs);
    this.num(r.eventTimeUs);
    this.num(r.recvTimeUs);
    this.num(r.checksum);
    this.num(r.depth);
    this.num(r.volAnnual);
    this.num(r.vwap);
    this.num(r.flow);
    this.num(r.clipQty);
    this.num(r.buyClipBps);
    this.num(r.sellClipBps);
    return this.buf.subarray(start, this.pos);
  }

  private bool(v: boolean): void {
    this.buf[this.pos++] = v ? 0xc3 : 0xc2;
  }

  private str(s: string): void {
    let bytes = this.strings.get(s);
    if (bytes === undefined) {
      const text = Buffer.from(s, 'utf8');
      if (text.length > 255) throw new RangeError(`risk record string longer than 255 bytes: ${s.slice(0, 40)}…`);
      bytes = Buffer.concat([Buffer.from(text.length < 32 ? [0xa0 | text.length] : [0xd9, text.length]), text]);
      if (this.strings.size < 10_000) this.strings.set(s, bytes);
    }
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
  }

  private num(v: number | null): void {
    const b = this.buf;
    if (v === null) {
      b[this.pos++] = 0xc0;
    } else if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff && (v !== 0 || 1 / v > 0)) {
      // Positive fixints stop at 0x3f: msgpackr reads 0x40–0x7f as record (structure) ids.
      if (v < 0x40) b[this.pos++] = v;
      else if (v < 0x100) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = v;
      } else if (v < 0x10000) {
        b[this.pos++] = 0xcd;
        b.writeUInt16BE(v, this.pos);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xce;
        b.writeUInt32BE(v, this.pos);
        this.pos += 4;
      }
    } else if (Number.isInteger(v) && v < 0 && v >= -32) {
      b[this.pos++] = 0xe0 | (v + 32);
    } else {
      // Everything else (fractions, -0, large or negative integers) as float64, exact for
      // integers up to 2^53.
      b[this.pos++] = 0xcb;
      b.writeDoubleBE(v, this.pos);
      this.pos += 8;
    }
  }
}

export function createRiskEncoder(): RiskEncoder {
  return new RiskWriter();
}

export function createRiskDecoder(): { decode(bytes: Uint8Array): MarketRisk } {
  const unpackr = new Unpackr({ structures: riskStructures(), maxSharedStructures: 16 });
  return { decode: (bytes) => unpackr.unpack(bytes) as MarketRisk };
}
