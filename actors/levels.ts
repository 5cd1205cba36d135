/**
 * The decoded content of one Kraken `book` message: the levels in wire order, each price and
 * quantity still in exact decimal parts (see decimal.ts). One instance is reused for every
 * frame a parser reads, so nothing is allocated per message once it has grown to fit.
 */
export const Side = { BID: 0, ASK: 1 } as const;

export class LevelBatch {
  symbol = '';
  isSnapshot = false;
  /** Unsigned CRC32 published by the venue, or -1 when the message carried none. */
  checksum = -1;
  /** Venue event time in epoch microseconds, or -1 when the message carried no timestamp. */
  eventTimeUs = -1;
  count = 0;
  side: Uint8Array;
  pInt: Float64Array;
  pFrac: Float64Array;
  pLen: Uint8Array;
  qInt: Float64Array;
  qFrac: Float64Array;
  qLen: Uint8Array;

  constructor(capacity = 64) {
    this.side = new Uint8Array(capacity);
    this.pInt = new Float64Array(capacity);
    this.pFrac = new Float64Array(capacity);
    this.pLen = new Uint8Array(capacity);
    this.qInt = new Float64Array(capacity);
    this.qFrac = new Float64Array(capacity);
    this.qLen = new Uint8Array(capacity);
  }

  reset(): void {
    this.symbol = '';
    this.isSnapshot = false;
    this.checksum = -1;
    this.eventTimeUs = -1;
    this.count = 0;
  }

  /** Append one level; grows the arrays (rarely: only deep snapshots) when full. */
  push(side: number, pInt: number, pFrac: number, pLen: number, qInt: number, qFrac: number, qLen: number): void {
    const i = this.count;
    if (i === this.side.length) this.grow();
    this.side[i] = side;
    this.pInt[i] = pInt;
    this.pFrac[i] = pFrac;
    this.pLen[i] = pLen;
    this.qInt[i] = qInt;
    this.qFrac[i] = qFrac;
    this.qLen[i] = qLen;
    this.count = i + 1;
  }

  private grow(): void {
    const cap = this.side.length * 2;
    const g8 = (a: Uint8Array) => {
      const b = new Uint8Array(cap);
      b.set(a);
      return b;
    };
    const g64 = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    this.side = g8(this.side);
    this.pInt = g64(this.pInt);
    this.pFrac = g64(this.pFrac);
    this.pLen = g8(this.pLen);
    this.qInt = g64(this.qInt);
    this.qFrac = g64(this.qFrac);
    this.qLen = g8(this.qLen);
  }
}
