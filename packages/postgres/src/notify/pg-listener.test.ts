import { describe, expect, test } from 'vitest';
import { APPLICATION_NAME_BYTES, listenerApplicationName, readListenerName } from './pg-listener.js';

/** What Postgres shows of an application name: at most its first 63 bytes (the name is ASCII). */
const shown = (name: string) => name.slice(0, APPLICATION_NAME_BYTES);

describe("a listener's application name", () => {
  test('names its channel after the prefix', () => {
    expect(listenerApplicationName('orders')).toBe('tablecache-listener:orders');
    expect(readListenerName('tablecache-listener:orders')).toEqual({ channel: 'orders', truncated: false });
  });

  test('writes bytes outside printable ASCII and backslashes as \\xNN, and reads them back', () => {
    const name = listenerApplicationName('Bestellungen ü\\x41');
    expect(name).toBe('tablecache-listener:Bestellungen \\xc3\\xbc\\x5cx41');
    expect(readListenerName(name)).toEqual({ channel: 'Bestellungen ü\\x41', truncated: false });
  });

  test('a name Postgres cut reads back as the start of the channel, marked truncated', () => {
    expect(readListenerName(shown(listenerApplicationName(`${'c'.repeat(40)}_and_more`)))).toEqual({
      channel: `${'c'.repeat(40)}_an`,
      truncated: true,
    });
  });

  test('a cut through an escape or a character drops what is left of it', () => {
    // 40 ASCII bytes, then é (two escapes, 8 characters): the cut at 63 leaves 3 of them.
    expect(readListenerName(shown(listenerApplicationName(`${'c'.repeat(40)}é`)))).toEqual({ channel: 'c'.repeat(40), truncated: true });
    // 39 ASCII bytes, then é: the cut keeps the escape of its first byte whole and none of the second.
    expect(readListenerName(shown(listenerApplicationName(`${'c'.repeat(39)}é`)))).toEqual({ channel: 'c'.repeat(39), truncated: true });
  });

  test('another application name is not a listener', () => {
    expect(readListenerName('tablecache-listener')).toBeUndefined();
    expect(readListenerName('psql')).toBeUndefined();
  });
});
