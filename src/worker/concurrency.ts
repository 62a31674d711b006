import { ConveyorError } from '../errors.js';

export interface ConcurrencyRange {
  min: number;
  max: number;
}

export const CONCURRENCY_LIMIT = 10_000;
const RULE = `a whole number from 1 to ${CONCURRENCY_LIMIT}, or "MIN:MAX" with 0 < MIN <= MAX (e.g. "2:20")`;

/** `10` or `"10"` → 10:10; `"2:20"` → grows from 2 to 20 under load. */
export function parseConcurrency(value: number | string): ConcurrencyRange {
  const text = String(value).trim();
  const match = /^(\d+)(?::(\d+))?$/.exec(text);
  const min = match ? Number(match[1]) : NaN;
  const max = match?.[2] !== undefined ? Number(match[2]) : min;
  if (!(min >= 1 && max >= min && max <= CONCURRENCY_LIMIT)) {
    throw new ConveyorError('CONVEYOR_VALIDATION', `concurrency ${JSON.stringify(value)} is invalid: use ${RULE}`, {
      issues: [{ path: 'concurrency', message: `must be ${RULE}` }],
    });
  }
  return { min, max };
}
