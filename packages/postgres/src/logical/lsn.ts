import { InvalidLsnError } from './logical-errors.js';

/**
 * A WAL position (log sequence number): a 64-bit byte offset into the WAL. Postgres writes it as
 * two hexadecimal halves, `'16/B374D848'`; as a bigint it compares with `<` and subtracts to a
 * distance in bytes.
 */
export type Lsn = bigint;

const MAX_LSN = (1n << 64n) - 1n;
const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Reads Postgres's text form, as `pg_lsn` and the replication commands print it. */
export function parseLsn(text: string): Lsn {
  const match = LSN_TEXT.exec(text);
  if (match === null) throw new InvalidLsnError(text);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Postgres's text form (`%X/%X`: upper case, no padding), which `pg_lsn` and replication commands read. */
export function formatLsn(lsn: Lsn): string {
  if (lsn < 0n || lsn > MAX_LSN) throw new InvalidLsnError(lsn);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** For `Array.prototype.sort`: negative when `a` comes first in the WAL. */
export function compareLsn(a: Lsn, b: Lsn): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
