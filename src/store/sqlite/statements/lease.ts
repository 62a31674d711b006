/**
 * Lease tokens name the row they lease: `<rowid>.<32 hex digits>`, the hex part 128 bits from
 * SQLite's CSPRNG (`randomblob`), fresh for every claim and steal. A write about a lease then finds
 * its task by rowid, a seek in the table itself, instead of looking its text id up in the id index
 * first (a fifth of a completion's cost, measured). The token is still compared in full, and the id
 * and queue as well, so a token fences exactly as before; the store is the only reader of its format.
 *
 * Tokens written before this format (plain hex) name no rowid: `LEASED_ROW` then falls back to the id.
 */
export const NEW_LEASE_TOKEN_SQL = "rowid || '.' || lower(hex(randomblob(16)))";

/**
 * The WHERE terms that find the task held under a lease. Parameters, in order: the token's rowid
 * (`tokenRowid`, null for an older token), the id, the id again, the queue, the token.
 */
export const LEASED_ROW = `rowid = coalesce(?, (SELECT rowid FROM tasks WHERE id = ?)) AND id = ? AND queue = ?
  AND state = 'processing' AND lease_token = ?`;

/** The rowid a token names, or null (an older token, or not one of ours: it then matches nothing). */
export function tokenRowid(token: string): number | null {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot > 16) return null;
  const rowid = Number(token.slice(0, dot));
  return Number.isSafeInteger(rowid) && rowid > 0 ? rowid : null;
}
