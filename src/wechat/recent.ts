import type { Clock } from '../platform/clock.ts';

/**
 * Which messages this process has claimed lately, in fixed memory: two Bloom filters, each for
 * one window, swapped when a window ends, so a key is remembered for at least one window and at
 * most two. `mayHave` can say yes for a key never added (rarely: about 1 in 100 at 150,000 keys per
 * window with the default size), never no for one added within the last window.
 *
 * The callback uses it when its store forgets answered messages (the in-process store): a claim on
 * a key this filter has not seen, in a process up for longer than the de-duplication window, is
 * the message's first attempt — WeChat retries a message only within that window, so an earlier
 * attempt would have reached this process and been added. A "maybe" only means the handler reads
 * its record first, as it does for every message without this filter.
 */
export class RecentKeys {
  private current: Uint32Array;
  private previous: Uint32Array;
  private windowEnds: number;
  private readonly mask: number;

  /** `bits`: the size of each filter, a power of two (the default, 2^21 bits, is 256 KB each). */
  constructor(
    private readonly windowMs: number,
    private readonly clock: Clock,
    bits = 1 << 21,
  ) {
    if (bits < 32 || (bits & (bits - 1)) !== 0) throw new Error('bits must be a power of two, at least 32');
    this.current = new Uint32Array(bits >>> 5);
    this.previous = new Uint32Array(bits >>> 5);
    this.mask = bits - 1;
    this.windowEnds = clock.now() + windowMs;
  }

  add(key: string): void {
    this.rotate();
    const [h1, h2] = hashes(key);
    for (let i = 0; i < PROBES; i++) set(this.current, (h1 + i * h2) & this.mask);
  }

  mayHave(key: string): boolean {
    this.rotate();
    const [h1, h2] = hashes(key);
    return has(this.current, h1, h2, this.mask) || has(this.previous, h1, h2, this.mask);
  }

  private rotate(): void {
    const now = this.clock.now();
    if (now < this.windowEnds) return;
    if (now >= this.windowEnds + this.windowMs) {
      // More than a window with nothing added or asked: both are out of date.
      this.current.fill(0);
      this.previous.fill(0);
    } else {
      const old = this.previous;
      this.previous = this.current;
      old.fill(0);
      this.current = old;
    }
    this.windowEnds = now + this.windowMs;
  }
}

const PROBES = 4;

function set(bits: Uint32Array, i: number): void {
  bits[i >>> 5]! |= 1 << (i & 31);
}

function has(bits: Uint32Array, h1: number, h2: number, mask: number): boolean {
  for (let i = 0; i < PROBES; i++) {
    const b = (h1 + i * h2) & mask;
    if ((bits[b >>> 5]! & (1 << (b & 31))) === 0) return false;
  }
  return true;
}

/** Two 32-bit hashes of a string (FNV-1a, and a murmur-style mix of it with a second pass), for double hashing. */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  b ^= b >>> 16;
  return [a >>> 0, (b | 1) >>> 0]; // an odd step visits every bit position
}
