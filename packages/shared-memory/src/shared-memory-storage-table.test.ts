import type { ScratchSpace, StorageLayout, StorageRecordsSpec, StorageTable } from '@tablecache/core';
import { describeStorageTableConformance } from '@tablecache/testing';
import { SharedMemoryStorageTable } from './shared-memory-storage-table.js';
import { SharedStorageView } from './shared-storage-view.js';

describeStorageTableConformance('SharedMemoryStorageTable', (layout) => new SharedMemoryStorageTable(layout, { initialBytes: 64 * 1024 }));

/** A table whose reads go through a view of the owner's buffer, so the reader path meets the same contract. */
class ViewReadTable<R> implements StorageTable<R> {
  readonly #owner: SharedMemoryStorageTable<R>;
  readonly #view: SharedStorageView<R>;

  constructor(layout: StorageLayout<R>) {
    this.#owner = new SharedMemoryStorageTable(layout, { initialBytes: 64 * 1024 });
    this.#view = SharedStorageView.open(structuredClone(this.#owner.handle()), layout);
  }

  get name(): string {
    return this.#owner.name;
  }

  get size(): number {
    return this.#view.read((at) => at.size);
  }

  get(primaryKey: Parameters<StorageTable<R>['get']>[0]): R | undefined {
    return this.#view.read((at) => at.get(primaryKey));
  }

  getRecords(spec: StorageRecordsSpec<R>): R[] {
    return this.#view.read((at) => at.getRecords(spec));
  }

  put(record: R): boolean {
    return this.#owner.put(record);
  }

  clear(): void {
    this.#owner.clear();
  }

  scratch(): ScratchSpace<R> {
    return this.#owner.scratch();
  }
}

describeStorageTableConformance('SharedStorageView over a SharedMemoryStorageTable', (layout) => new ViewReadTable(layout));
