import { v7 as uuidv7 } from 'uuid';

/**
 * Task ids are UUIDv7 values written in Crockford base32, as ULIDs are: 26 characters,
 * time-ordered (sorting ids sorts tasks by creation; list pagination relies on it), and monotonic
 * within one process, so ids made in one batch keep their order. 26 characters instead of the 36 of
 * the hyphenated form matter: every waiting task's id sits in three places in Redis.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** Written by uuidv7 and read at once by encodeBase32: one buffer serves every id. */
const BYTES = new Uint8Array(16);
const ALPHABET_CODES: readonly number[] = Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** The digits of the id being encoded, as character codes. */
const DIGITS: number[] = new Array<number>(26).fill(0);

export function newTaskId(): string {
  uuidv7(undefined, BYTES);
  return encodeBase32(BYTES);
}

export function isTaskId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/**
 * 128 bits → 26 base32 digits, most significant first (the top digit holds the 3 leftover bits).
 * Five bits at a time from the least significant byte up, in small integers, into one string at the
 * end: the BigInt version made this the largest single cost of a submit (~1.3 µs; now ~0.15).
 */
function encodeBase32(bytes: Uint8Array): string {
  const digits = DIGITS;
  let at = 25;
  let acc = 0;
  let bits = 0;
  for (let i = 15; i >= 0; i--) {
    acc |= bytes[i]! << bits;
    bits += 8;
    while (bits >= 5) {
      digits[at--] = ALPHABET_CODES[acc & 31]!;
      acc >>>= 5;
      bits -= 5;
    }
  }
  // 128 = 25 × 5 + 3: the top digit.
  digits[0] = ALPHABET_CODES[acc & 31]!;
  return String.fromCharCode.apply(null, digits);
}
