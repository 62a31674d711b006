/**
 * Durations as people write them. Inside the library every duration is a number of milliseconds;
 * strings such as "30s" are accepted at the edges (submitted tasks, the HTTP API, config, the CLI)
 * and turned into milliseconds here, once.
 */
import ms from 'ms';
import { z } from 'zod';
import { ConveyorError } from './errors.js';

/**
 * The longest duration accepted: 100 years. Large enough for any real delay, timeout or backoff,
 * small enough that `now + duration` stays a valid date and a safe integer.
 */
export const MAX_DURATION_MS = 100 * 365.25 * 24 * 60 * 60 * 1000;

/** What a duration may be, for error messages. */
export const DURATION_RULE =
  'a non-negative integer of milliseconds or a string such as "500ms", "5s", "1.5s", "2m", "1h" or "1d" (at most 100 years)';

type DurationCheck = { ok: true; ms: number } | { ok: false; reason: string };

/** Shows a rejected value in a message without echoing a huge one. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return JSON.stringify(shown);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function checkDuration(value: unknown): DurationCheck {
  let result: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) {
      return { ok: false, reason: `got ${describeValue(value)}: a number is milliseconds and must be a non-negative integer` };
    }
    result = value;
  } else if (typeof value === 'string') {
    // `ms` returns undefined for what it cannot read and throws for an empty or non-string input.
    const parsed = value.trim() === '' ? undefined : (ms(value as ms.StringValue) as number | undefined);
    if (parsed === undefined || !Number.isFinite(parsed)) {
      return { ok: false, reason: `got ${describeValue(value)}` };
    }
    if (parsed < 0) return { ok: false, reason: `got ${describeValue(value)}: a duration cannot be negative` };
    result = Math.round(parsed);
  } else {
    return { ok: false, reason: `got ${describeValue(value)}` };
  }
  if (result > MAX_DURATION_MS) return { ok: false, reason: `got ${describeValue(value)}: longer than 100 years` };
  return { ok: true, ms: result };
}

/**
 * Milliseconds from a duration: a number is already milliseconds (a non-negative integer); a
 * string is read by the `ms` package ("500ms", "5s", "1.5s", "2m", "1h", "1d"; a bare "5000" is
 * milliseconds too, so environment variables work). Fractions of a millisecond are rounded.
 *
 * @throws ConveyorError CONVEYOR_VALIDATION naming `field`, the value and what is allowed.
 */
export function parseDuration(value: number | string, field: string): number {
  const checked = checkDuration(value);
  if (checked.ok) return checked.ms;
  throw new ConveyorError(
    'CONVEYOR_VALIDATION',
    `${field}: must be ${DURATION_RULE} (${checked.reason})`,
    { issues: [{ path: field, message: `must be ${DURATION_RULE} (${checked.reason})` }] },
  );
}

/**
 * A duration field in a zod schema: accepts a number or a string, outputs milliseconds. The issue
 * it raises names what is allowed; the path names the field.
 */
export const durationSchema = z
  .union([z.number(), z.string()], { error: (iss) => `must be ${DURATION_RULE} (got ${describeValue(iss.input)})` })
  .transform((value, ctx) => {
    const checked = checkDuration(value);
    if (checked.ok) return checked.ms;
    ctx.addIssue({ code: 'custom', input: value, message: `must be ${DURATION_RULE} (${checked.reason})` });
    return z.NEVER;
  });
