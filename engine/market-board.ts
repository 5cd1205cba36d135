/**
 * The market board: each instrument's current top of book, shared between threads through a
 * SharedArrayBuffer, so the risk host (accounts, pre-trade checks, portfolio) reads live books
 * that live in other worker threads without a message hop. One writer per slot (the worker
 * hosting the instrument), any number of readers, guarded by a sequence lock: the writer makes
 * the sequence odd, writes, makes it even; a reader retries while it is odd or moved.
 *
 * Slot layout (Int32 header, then Float64 fields and levels):
 *   i32[0] seq · i32[1] health code · i32[2] bids · i32[3] asks · i32[4] price precision ·
 *   i32[5] qty precision · i32[6] risk seq (the published record's seq) · i32[7] unused
 *   f64[4] mid · f64[5] recv time µs · f64[6] epoch · f64[7] unused ·
 *   then LEVELS × (bid price, bid qty), LEVELS × (ask price, ask qty)
 */
import type { InstrumentActor } from '../actors/instrument.js';
import type { BookLevels } from '../actors/liquidity.js';
import { BookHealth } from '../actors/risk.js';

/** Levels per side kept on the board (enough for any clip a pre-trade check walks). */
export const BOARD_LEVELS = 50;
const HEADER_F64 = 8; // 32 bytes of i32 header + 4 f64 fields
const SLOT_F64 = HEADER_F64 + 4 * BOARD_LEVELS;
const SLOT_BYTES = SLOT_F64 * 8;

const HEALTH_CODES: readonly BookHealth[] = [BookHealth.SYNCING, BookHealth.LIVE, BookHealth.RESYNCING, BookHealth.STALE, BookHealth.HALTED, BookHealth.REJECTED];
const HEALTH_INDEX = new Map(HEALTH_CODES.map((h, i) => [h, i]));

export class MarketBoard {
  readonly i32: Int32Array;
  readonly f64: Float64Array;

  private constructor(
    readonly buffer: SharedArrayBuffer,
    readonly slots: number,
  ) {
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }

  static create(slots: number): MarketBoard {
    return new MarketBoard(new SharedArrayBuffer(Math.max(1, slots) * SLOT_BYTES), Math.max(1, slots));
  }

  static attach(buffer: SharedArrayBuffer): MarketBoard {
    return new MarketBoard(buffer, buffer.byteLength / SLOT_BYTES);
  }

  /** Publish an instrument's state into its slot (writer side, the hosting worker). */
  write(slot: number, a: InstrumentActor): void {
    const i = slot * SLOT_F64 * 2; // i32 index of the slot start
    const f = slot * SLOT_F64;
    const i32 = this.i32;
    const f64 = this.f64;
    Atomics.add(i32, i, 1); // odd: writing
    const book = a.book;
    const live = a.health === BookHealth.LIVE && book !== null;
    const nb = live ? Math.min(book.bids.n, BOARD_LEVELS) : 0;
    const na = live ? Math.min(book.asks.n, BOARD_LEVELS) : 0;
    i32[i + 1] = HEALTH_INDEX.get(a.health) ?? 0;
    i32[i + 2] = nb;
    i32[i + 3] = na;
    i32[i + 4] = a.pricePrecision;
    i32[i + 5] = a.qtyPrecision;
    i32[i + 6] = a.risk.seq;
    f64[f + 4] = a.risk.mid ?? Number.NaN;
    f64[f + 5] = a.risk.recvTimeUs;
    f64[f + 6] = a.risk.epoch;
    if (live) {
      // Only levels at or below the first one changed since the last write are copied (the
      // slot is this worker's alone, so the rest is still current) — unless the slot was
      // last written for another book state (a rebuild resets boardFrom to 0).
      const base = f + HEADER_F64;
      for (let k = book.bids.boardFrom; k < nb; k++) {
        f64[base + 2 * k] = book.bidPrice(k);
        f64[base + 2 * k + 1] = book.bidQty(k);
      }
      const abase = base + 2 * BOARD_LEVELS;
      for (let k = book.asks.boardFrom; k < na; k++) {
        f64[abase + 2 * k] = book.askPrice(k);
        f64[abase + 2 * k + 1] = book.askQty(k);
      }
      book.bids.boardFrom = book.asks.boardFrom = Number.MAX_SAFE_INTEGER;
    } else if (book !== null) {
      book.bids.boardFrom = book.asks.boardFrom = 0; // copy everything when it is LIVE again
    }
    Atomics.add(i32, i, 1); // even: consistent
  }

  /**
   * Mark a slot STALE with no levels, for an instrument whose worker died: called by the
   * supervisor only while no worker owns the slot (the single-writer rule holds), so readers
   * such as pre-trade checks never act on a book nobody maintains any more.
   */
  markStale(slot: number): void {
    const i = slot * SLOT_F64 * 2;
    const i32 = this.i32;
    if (Atomics.load(i32, i) === 0) return; // never written: readers already see no book
    Atomics.add(i32, i, 1);
    i32[i + 1] = HEALTH_INDEX.get(BookHealth.STALE) ?? 0;
    i32[i + 2] = 0;
    i32[i + 3] = 0;
    Atomics.add(i32, i, 1);
  }

  /** Read a consistent copy of a slot into `out` (reader side). Returns false if never written. */
  read(slot: number, out: BoardBook): boolean {
    const i = slot * SLOT_F64 * 2;
    const f = slot * SLOT_F64;
    for (;;) {
      const s1 = Atomics.load(this.i32, i);
      if (s1 === 0) return false;
      if ((s1 & 1) === 1) continue; // a write is in progress
      out.health = HEALTH_CODES[this.i32[i + 1]!] ?? BookHealth.SYNCING;
      out.bidCount = this.i32[i + 2]!;
      out.askCount = this.i32[i + 3]!;
      out.pricePrecision = this.i32[i + 4]!;
      out.qtyPrecision = this.i32[i + 5]!;
      out.seq = this.i32[i + 6]!;
      const mid = this.f64[f + 4]!;
      out.mid = Number.isNaN(mid) ? null : mid;
      out.recvTimeUs = this.f64[f + 5]!;
      out.epoch = this.f64[f + 6]!;
      out.levels.set(this.f64.subarray(f + HEADER_F64, f + SLOT_F64));
      if (Atomics.load(this.i32, i) === s1) return true; // nothing moved while we copied
    }
  }
}

/** A consistent copy of one board slot; implements BookLevels for liquidity walks. */
export class BoardBook implements BookLevels {
  health: BookHealth = BookHealth.SYNCING;
  bidCount = 0;
  askCount = 0;
  pricePrecision = -1;
  qtyPrecision = -1;
  seq = 0;
  epoch = 0;
  mid: number | null = null;
  recvTimeUs = 0;
  readonly levels = new Float64Array(4 * BOARD_LEVELS);

  bidPrice(i: number): number {
    return this.levels[2 * i]!;
  }
  bidQty(i: number): number {
    return this.levels[2 * i + 1]!;
  }
  askPrice(i: number): number {
    return this.levels[2 * BOARD_LEVELS + 2 * i]!;
  }
  askQty(i: number): number {
    return this.levels[2 * BOARD_LEVELS + 2 * i + 1]!;
  }
}
