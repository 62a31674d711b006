import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

const DOC = readFileSync(new URL('../../docs/reference/errors.md', import.meta.url), 'utf8');

describe('docs/reference/errors.md', () => {
  it('lists every error code, and no code that does not exist', () => {
    const documented = [...DOC.matchAll(/^\| `(CONVEYOR_[A-Z_]+)` \|/gm)].map((match) => match[1]).sort();
    expect(documented).toEqual(Object.keys(ERROR_CODES).sort());
  });
});
