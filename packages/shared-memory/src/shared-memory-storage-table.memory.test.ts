import { Interval } from '@tablecache/core';
import { itemLayout } from '@tablecache/testing';
import { expect, test } from 'vitest';
import { StorageFullError } from './errors.js';
import { SharedMemoryStorageTable } from './shared-memory-storage-table.js';
import { SharedStorageView } from './shared-storage-view.js';

const item = (id: number, version = 0) => ({ id, group: `g${id % 7}`, email: `${id}@example.com`, rank: id * 10 + version });
const pkLayout = { primaryKey: (r: { id: number; text: string }) => r.id, storageIndexes: {} };

test('100,000 replacements of the same 1,000 records keep the memory in use bounded', () => {
  const table = new SharedMemoryStorageTable(itemLayout);
  for (let id = 0; id < 1000; id++) table.put(item(id));
  let afterFirst = 0;
  for (let cycle = 0; cycle < 100; cycle++) {
    const scratch = table.scratch();
    for (let id = 0; id < 1000; id++) scratch.put(item(id, cycle % 3));
    scratch.commit();
    if (cycle === 0) afterFirst = table.memory.usedBytes;
  }
  expect(table.size).toBe(1000);
  expect(table.memory.usedBytes).toBeLessThan(afterFirst * 1.5);
});

test('many records split and join range blocks and the index still agrees with a sort', () => {
  const table = new SharedMemoryStorageTable(itemLayout);
  const model = new Map<number, ReturnType<typeof item>>();
  let seed = 7;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  for (let round = 0; round < 6; round++) {
    const scratch = table.scratch();
    for (let i = 0; i < 3000; i++) {
      const id = next() % 5000;
      if (next() % 3 === 0) {
        scratch.delete(id);
        model.delete(id);
      } else {
        const record = { ...item(id), rank: next() % 2000 };
        scratch.put(record);
        model.set(id, record);
      }
    }
    scratch.commit();
    const expected = [...model.values()].filter((r) => r.rank >= 100 && r.rank < 1500).sort((a, b) => a.rank - b.rank || a.id - b.id);
    expect(table.getRecords({ kind: 'range', index: 'rank', intervals: [new Interval(100, 1500)] })).toEqual(expected);
    expect(table.getRecords({ kind: 'keys', index: 'group', keys: ['g3'] }).length).toBe(
      [...model.values()].filter((r) => r.group === 'g3').length,
    );
  }
});

test('a put that does not fit throws StorageFullError and leaves storage as it was', () => {
  const table = new SharedMemoryStorageTable(pkLayout, { maxBytes: 64 * 1024, initialBytes: 16 * 1024 });
  let id = 0;
  expect(() => {
    for (;;) table.put({ id: id++, text: 'x'.repeat(200) });
  }).toThrow(StorageFullError);
  const size = table.size;
  const used = table.memory.usedBytes;
  expect(() => table.put({ id: 99_999, text: 'x'.repeat(200) })).toThrow(/needs \d+ more bytes, \d+ of at most 65536/);
  expect(table.size).toBe(size);
  expect(table.memory.usedBytes).toBe(used);
  expect(table.get(99_999)).toBeUndefined();
  expect(table.get(0)).toEqual({ id: 0, text: 'x'.repeat(200) });
});

test('a scratch commit that does not fit throws StorageFullError before applying any of it', () => {
  const table = new SharedMemoryStorageTable(itemLayout, { maxBytes: 128 * 1024, initialBytes: 16 * 1024 });
  for (let id = 0; id < 100; id++) table.put(item(id));
  const before = table.getRecords({ kind: 'all' });
  const used = table.memory.usedBytes;
  const scratch = table.scratch();
  scratch.delete(1);
  for (let id = 1000; id < 3000; id++) scratch.put({ ...item(id), group: 'x'.repeat(100) });
  expect(() => scratch.commit()).toThrow(StorageFullError);
  expect(table.getRecords({ kind: 'all' })).toEqual(before);
  expect(table.memory.usedBytes).toBe(used);
  expect(table.get(1)).toEqual(item(1));
});

test('memory reports bytes in use, the buffer length and the maximum, and the buffer grows as records come', () => {
  const table = new SharedMemoryStorageTable(pkLayout, { initialBytes: 16 * 1024, maxBytes: 1 << 24 });
  const { reservedBytes } = table.memory;
  for (let id = 0; id < 10_000; id++) table.put({ id, text: 'some text' });
  expect(table.memory.reservedBytes).toBeGreaterThan(reservedBytes);
  expect(table.memory.usedBytes).toBeLessThanOrEqual(table.memory.reservedBytes);
  expect(table.memory.maxBytes).toBe(1 << 24);
  table.clear();
  expect(table.size).toBe(0);
  expect(table.memory.usedBytes).toBeLessThan(16 * 1024);
});

test('a published value that no longer fits withdraws its slot: readers find nothing there, under a new version', () => {
  const table = new SharedMemoryStorageTable(pkLayout, { maxBytes: 64 * 1024, initialBytes: 16 * 1024 });
  table.publish('state', 'small');
  const view = SharedStorageView.open(table.handle(), pkLayout);
  const before = view.read((at) => at.publishedVersion('state'));
  let id = 0;
  expect(() => {
    for (;;) table.put({ id: id++, text: 'x'.repeat(200) });
  }).toThrow(StorageFullError);
  expect(() => table.publish('state', 'y'.repeat(10_000))).toThrow(StorageFullError);
  expect(view.read((at) => at.published('state'))).toBeUndefined();
  expect(view.read((at) => at.publishedVersion('state'))).toBeGreaterThan(before);
});
