/**
 * Bearer tokens with scopes. Tokens are compared in constant time: the presented token and every
 * configured one are hashed (SHA-256, so lengths are equal) and compared with `timingSafeEqual`,
 * each configured token every time, so neither the match nor its position leaks through timing.
 *
 * Scopes: `submit` (submit, batch, get a task, wait for it), `work` (the worker protocol), `admin`
 * (every route).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConveyorError } from '../errors.js';

export const SCOPES = ['submit', 'work', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface AuthToken {
  token: string;
  scopes: Scope[];
}

interface HashedToken {
  digest: Buffer;
  scopes: ReadonlySet<Scope>;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export class Authenticator {
  readonly #tokens: HashedToken[];

  constructor(tokens: readonly AuthToken[]) {
    tokens.forEach((t, i) => {
      if (typeof t?.token !== 'string' || t.token === '') {
        throw new ConveyorError('CONVEYOR_VALIDATION', `invalid auth options: auth[${i}].token: must be a non-empty string`, {
          issues: [{ path: `auth[${i}].token`, message: 'must be a non-empty string' }],
        });
      }
      if (!Array.isArray(t.scopes) || t.scopes.length === 0 || !t.scopes.every((s) => (SCOPES as readonly string[]).includes(s))) {
        throw new ConveyorError('CONVEYOR_VALIDATION', `invalid auth options: auth[${i}].scopes: must be a non-empty list of ${SCOPES.join(', ')}`, {
          issues: [{ path: `auth[${i}].scopes`, message: `must be a non-empty list of ${SCOPES.join(', ')}` }],
        });
      }
    });
    this.#tokens = tokens.map((t) => ({ digest: digest(t.token), scopes: new Set(t.scopes) }));
  }

  /** True when tokens are configured (else every route is open). */
  get enabled(): boolean {
    return this.#tokens.length > 0;
  }

  /**
   * Checks an Authorization header for `required`: throws CONVEYOR_UNAUTHORIZED (no or unknown
   * token) or CONVEYOR_FORBIDDEN (a known token without the scope). `admin` passes every scope.
   */
  check(header: string | undefined, required: Scope): void {
    if (!this.enabled) return;
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
    if (!match) {
      throw new ConveyorError('CONVEYOR_UNAUTHORIZED', 'authentication required: send `Authorization: Bearer <token>`', {});
    }
    const presented = digest(match[1]!);
    let found: HashedToken | undefined;
    for (const token of this.#tokens) {
      // Every configured token is compared, match or not.
      if (timingSafeEqual(presented, token.digest) && found === undefined) found = token;
    }
    if (!found) throw new ConveyorError('CONVEYOR_UNAUTHORIZED', 'authentication failed: the bearer token is not a configured token', {});
    if (!found.scopes.has(required) && !found.scopes.has('admin')) {
      throw new ConveyorError('CONVEYOR_FORBIDDEN', `forbidden: this route needs a token with the "${required}" scope (or "admin")`, {
        required,
        scopes: [...found.scopes],
      });
    }
  }
}
