import type { Worker } from 'node:worker_threads';
import { InvalidOptionsError } from '@tablecache/core';
import { itemLayout } from '@tablecache/testing';
import { afterEach, expect, test } from 'vitest';
import { SharedMemoryStorageTable } from './shared-memory-storage-table.js';
import { SharedStorageView } from './shared-storage-view.js';
import { typeScriptWorker } from './typescript-worker.fixture.js';

let worker: Worker | undefined;
afterEach(async () => {
  await worker?.terminate();
  worker = undefined;
});

interface Versioned {
  readonly id: number;
  readonly version: number;
}
const versionedLayout = {
  primaryKey: (r: Versioned) => r.id,
  storageIndexes: { version: { kind: 'hash' as const, key: (r: Versioned) => r.version } },
};

test('a worker reading while the owner commits sees every read at one whole commit', async () => {
  const table = new SharedMemoryStorageTable(versionedLayout, { initialBytes: 64 * 1024 });
  const commit = (version: number) => {
    table.atomically(() => {
      const scratch = table.scratch();
      for (let id = 0; id < 1000; id++) scratch.put({ id, version });
      scratch.commit();
      table.publish('version', version);
    });
  };
  commit(0);
  worker = typeScriptWorker(new URL('./versioned-reader.fixture.ts', import.meta.url), table.handle());
  const report = new Promise<{ reads: number; mixed: number; versions: number }>((resolve, reject) => {
    worker?.once('message', resolve);
    worker?.once('error', reject);
  });
  const until = Date.now() + 1500;
  let version = 1;
  while (Date.now() < until) {
    commit(version++);
    await new Promise((resolve) => setImmediate(resolve));
  }
  worker.postMessage('stop');
  const { reads, mixed, versions } = await report;
  expect(mixed).toBe(0);
  expect(reads).toBeGreaterThan(0);
  expect(versions).toBeGreaterThan(1);
  expect(table.memory.usedBytes).toBeLessThan(1 << 20);
}, 20_000);

test('a view reads what was published, once per version, and the version changes with every publish', () => {
  const table = new SharedMemoryStorageTable(itemLayout);
  const view = SharedStorageView.open(table.handle(), itemLayout);
  expect(view.read((at) => at.published('keys'))).toBeUndefined();
  expect(view.read((at) => at.publishedVersion('keys'))).toBe(0);
  const keys = Array.from({ length: 100_000 }, (_, i) => i);
  table.publish('keys', keys);
  const first = view.read((at) => at.published('keys'));
  expect(first).toEqual(keys);
  expect(view.read((at) => at.published('keys'))).toBe(first);
  const version = view.read((at) => at.publishedVersion('keys'));
  table.publish('keys', [1]);
  expect(view.read((at) => at.publishedVersion('keys'))).not.toBe(version);
  expect(view.read((at) => at.published('keys'))).toEqual([1]);
});

test('with a decoded cache a view hands out the same record until it is replaced', () => {
  const table = new SharedMemoryStorageTable(itemLayout);
  const view = SharedStorageView.open(table.handle(), itemLayout, { decodedCache: true });
  table.put({ id: 1, group: 'a', email: 'a', rank: 1 });
  const first = view.read((at) => at.get(1));
  expect(view.read((at) => at.get(1))).toBe(first);
  table.put({ id: 1, group: 'b', email: 'a', rank: 1 });
  table.put({ id: 2, group: 'c', email: 'b', rank: 1 });
  expect(view.read((at) => at.get(1))).toEqual({ id: 1, group: 'b', email: 'a', rank: 1 });
});

test('with a decoded cache smaller than the table, every read still gives its own record', () => {
  const table = new SharedMemoryStorageTable(itemLayout);
  const view = SharedStorageView.open(table.handle(), itemLayout, { decodedCache: true });
  const item = (id: number, group: string) => ({ id, group, email: `e${id}`, rank: id });
  for (let id = 0; id < 20_000; id++) table.put(item(id, 'a'));
  for (let id = 0; id < 20_000; id += 2) table.put(item(id, 'b'));
  for (const pass of [0, 1]) {
    for (let id = 0; id < 20_000; id++) {
      expect(
        view.read((at) => at.get(id)),
        `pass ${pass}, id ${id}`,
      ).toEqual(item(id, id % 2 === 0 ? 'b' : 'a'));
    }
  }
});

test("a read inside the owner's atomic section on its thread sees the section's writes so far", () => {
  const table = new SharedMemoryStorageTable(itemLayout);
  const view = SharedStorageView.open(table.handle(), itemLayout);
  table.atomically(() => {
    table.put({ id: 1, group: 'a', email: 'a', rank: 1 });
    expect(view.read((at) => at.size)).toBe(1);
  });
});

test('an exception a read throws propagates when no write interleaved', () => {
  const table = new SharedMemoryStorageTable(itemLayout);
  const view = SharedStorageView.open(table.handle(), itemLayout);
  expect(() =>
    view.read(() => {
      throw new RangeError('mine');
    }),
  ).toThrow('mine');
});

test("opening a view checks the handle and that the layout has the table's indexes", () => {
  const table = new SharedMemoryStorageTable(itemLayout);
  const handle = table.handle();
  expect(handle).toMatchObject({ format: 'tablecache/shared-memory', version: 1, name: 'table' });
  expect(structuredClone(handle).channel).toBe(handle.channel);
  expect(() => SharedStorageView.open({ ...handle, format: 'other' }, itemLayout)).toThrow(InvalidOptionsError);
  expect(() => SharedStorageView.open({ ...handle, version: 2 }, itemLayout)).toThrow(/version 2/);
  expect(() => SharedStorageView.open(handle, { ...itemLayout, storageIndexes: {} })).toThrow(/the table has group \(hash\)/);
  const renamed = { ...itemLayout, storageIndexes: { ...itemLayout.storageIndexes, rank: { kind: 'hash' as const, key: () => 1 } } };
  expect(() => SharedStorageView.open(handle, renamed)).toThrow(/rank \(range\).*rank \(hash\)/);
});
