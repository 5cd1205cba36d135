/**
 * Kraken v2 book checksum (kraken-v2.md §7), computed from exact scaled integers.
 *
 * This is the *test oracle* for the engine's own book, so it is deliberately an
 * independent implementation: it imports nothing from `actors/` or
 * `adapters/kraken/`, and no price or qty ever passes through float arithmetic.
 *
 * §7 renders each price and qty with exactly the pair's precision, deletes the
 * '.', then deletes leading '0's. For a positive integer count of units `u`,
 * `formatUnits(u, p)` is the digits of `u` left-padded with zeros to at least
 * p+1 digits, with a '.' inserted p digits from the right. Deleting the '.'
 * gives the zero-padded digit string; deleting the leading zeros gives back
 * exactly `String(u)`. So the checksum token of a level is simply the decimal
 * digits of its tick count followed by those of its lot count (both are always
 * positive for a resting level). `test/kraken-sim.test.ts` checks the sim's
 * checksums against an independent string-based oracle of the literal §7 rule
 * on every message, and that oracle against Kraken's published examples.
 */
import { crc32 } from 'node:zlib';
import type { BookSide } from './book.js';

/** Number of levels per side that enter the checksum, whatever the depth (§7.5). */
export const CHECKSUM_LEVELS = 10;

/**
 * CRC32 (zlib / IEEE 802.3 polynomial, the variant Kraken uses — §7.4) of the
 * top-10 asks ascending followed by the top-10 bids descending. Both sides are
 * stored best-first, so walking each from index 0 yields exactly that order.
 * A side with fewer than 10 levels contributes what it has (§7.5).
 */
export function bookChecksum(asks: BookSide, bids: BookSide): number {
  let s = '';
  const na = asks.len < CHECKSUM_LEVELS ? asks.len : CHECKSUM_LEVELS;
  for (let i = 0; i < na; i++) s += asks.token(i);
  const nb = bids.len < CHECKSUM_LEVELS ? bids.len : CHECKSUM_LEVELS;
  for (let i = 0; i < nb; i++) s += bids.token(i);
  // zlib.crc32 already returns the unsigned 32-bit value.
  return crc32(s);
}
