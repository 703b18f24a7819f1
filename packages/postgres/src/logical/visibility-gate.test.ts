import { describe, expect, test } from 'vitest';
import { parseSnapshot, VisibilityGate, visibleIn } from './visibility-gate.js';

const EPOCH = 2n ** 32n;

describe('transaction visibility', () => {
  test('a snapshot reads as xmin, xmax and the transactions still running', () => {
    expect(parseSnapshot('740:745:741,743')).toEqual({ xmin: 740n, xmax: 745n, running: new Set([741n, 743n]) });
    expect(parseSnapshot('745:745:')).toEqual({ xmin: 745n, xmax: 745n, running: new Set() });
  });

  test('a committed transaction below xmax and not running is visible; one running, or from xmax on, is not', () => {
    const snapshot = parseSnapshot('740:745:741,743');
    expect(visibleIn(742, snapshot)).toBe(true);
    expect(visibleIn(739, snapshot)).toBe(true);
    expect(visibleIn(743, snapshot)).toBe(false);
    expect(visibleIn(745, snapshot)).toBe(false);
  });

  test('32-bit transaction ids are placed in the epoch of the snapshot, across a wraparound', () => {
    const afterWrap = parseSnapshot(`${EPOCH + 3n}:${EPOCH + 10n}:`);
    expect(visibleIn(4_294_967_290, afterWrap)).toBe(true); // just before the wrap, in the previous epoch
    expect(visibleIn(5, afterWrap)).toBe(true);
    expect(visibleIn(12, afterWrap)).toBe(false);
  });

  test('the gate waits until a snapshot sees the transaction, and one snapshot answers every waiter', async () => {
    const snapshots = ['100:101:', '100:103:', '100:104:'];
    let reads = 0;
    const gate = new VisibilityGate(async () => snapshots[Math.min(reads++, snapshots.length - 1)]!);
    const order: number[] = [];
    await Promise.all([101, 102, 103].map((xid) => gate.visible(xid).then(() => order.push(xid))));
    expect(order).toEqual([101, 102, 103]);
    expect(reads).toBe(3);
  });

  test('a transaction the last snapshot saw needs no new one', async () => {
    let reads = 0;
    const gate = new VisibilityGate(async () => {
      reads++;
      return '100:110:';
    });
    await gate.visible(105);
    await gate.visible(103);
    expect(reads).toBe(1);
  });

  test('a snapshot that cannot be read rejects every waiter', async () => {
    const gate = new VisibilityGate(() => Promise.reject(new Error('no connection')));
    await expect(Promise.all([gate.visible(1), gate.visible(2)])).rejects.toThrow('no connection');
  });
});
