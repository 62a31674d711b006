import { v7 as uuidv7 } from 'uuid';

/**
 * Task ids are UUIDv7 values written in Crockford base32, as ULIDs are: 26 characters,
 * time-ordered (sorting ids sorts tasks by creation; list pagination relies on it), and monotonic
 * within one process, so ids made in one batch keep their order. 26 characters instead of the 36 of
 * the hyphenated form matter: every waiting task's id sits in three places in Redis.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export function newTaskId(): string {
  const bytes = new Uint8Array(16);
  uuidv7(undefined, bytes);
  return encodeBase32(bytes);
}

export function isTaskId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** 128 bits → 26 base32 digits, most significant first (the top digit holds the 3 leftover bits). */
function encodeBase32(bytes: Uint8Array): string {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = ALPHABET[Number(value & 31n)]! + out;
    value >>= 5n;
  }
  return out;
}
