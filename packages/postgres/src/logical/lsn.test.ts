import { describe, expect, test } from 'vitest';
import { InvalidLsnError } from './logical-errors.js';
import { compareLsn, formatLsn, parseLsn } from './lsn.js';

describe('LSN', () => {
  test('parses and formats as Postgres writes it', () => {
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('16/b374d848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe((1n << 64n) - 1n);
    expect(formatLsn(0x16b3748n)).toBe('0/16B3748');
    expect(formatLsn(0n)).toBe('0/0');
    expect(formatLsn((0x16n << 32n) | 0xb374d848n)).toBe('16/B374D848');
  });

  test('round-trips', () => {
    for (const text of ['0/0', '1/0', '0/1', 'ABCDEF01/23456789', 'FFFFFFFF/FFFFFFFF']) expect(formatLsn(parseLsn(text))).toBe(text);
  });

  test('compares in WAL order, across the halves', () => {
    const sorted = ['1/0', '0/FFFFFFFF', '0/10', '0/9'].map(parseLsn).sort(compareLsn).map(formatLsn);
    expect(sorted).toEqual(['0/9', '0/10', '0/FFFFFFFF', '1/0']);
    expect(compareLsn(5n, 5n)).toBe(0);
  });

  test('rejects what is not an LSN with a typed error', () => {
    for (const text of ['', '0', '0/', '/0', '0/0/0', '123456789/0', '0x1/0', ' 0/0', 'G/0']) {
      expect(() => parseLsn(text)).toThrow(InvalidLsnError);
    }
    expect(() => formatLsn(-1n)).toThrow(InvalidLsnError);
    expect(() => formatLsn(1n << 64n)).toThrow(/not an LSN/);
  });
});
