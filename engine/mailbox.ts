/**
 * A bounded mailbox for an actor: a fixed ring of messages drained synchronously, one
 * message run to completion at a time. When full, the overflow policy decides and the
 * `dropped` counter records what it did (exported as a metric by the worker host).
 */
export const OverflowPolicy = {
  /** Drop the oldest queued message to make room (market-data style: newest wins). */
  DROP_OLDEST: 'drop-oldest',
  /** Refuse the new message (post returns false); the sender decides. */
  REJECT: 'reject',
} as const;
export type OverflowPolicy = (typeof OverflowPolicy)[keyof typeof OverflowPolicy];

export class Mailbox<T> {
  private readonly ring: (T | undefined)[];
  private head = 0;
  private size = 0;
  dropped = 0;
  highWater = 0;

  constructor(
    readonly capacity: number,
    readonly policy: OverflowPolicy,
    private readonly handler: (msg: T) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.ring = new Array<T | undefined>(capacity).fill(undefined);
  }

  get depth(): number {
    return this.size;
  }

  /** Enqueue; returns false when the message was refused (REJECT policy, mailbox full). */
  post(msg: T): boolean {
    if (this.size === this.capacity) {
      this.dropped++;
      if (this.policy === OverflowPolicy.REJECT) return false;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
    this.ring[(this.head + this.size) % this.capacity] = msg;
    this.size++;
    if (this.size > this.highWater) this.highWater = this.size;
    return true;
  }

  /** Run queued messages to completion, at most `max`; returns how many ran. */
  drain(max = Infinity): number {
    let n = 0;
    while (this.size > 0 && n < max) {
      const msg = this.ring[this.head] as T;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
      n++;
      this.handler(msg);
    }
    return n;
  }
}
