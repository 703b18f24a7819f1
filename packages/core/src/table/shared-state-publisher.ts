import {
  isSharedStorageTable,
  type PublishedSlot,
  type PublishedTableState,
  type SharedStorageTable,
  type TableOwner,
} from '../storage/shared-storage.js';
import type { StorageTable } from '../storage/storage-table.js';

/** Where each slot of the published state comes from, asked at the moment it is published. */
export type PublishedStateSources = { readonly [N in PublishedSlot]: () => PublishedTableState[N] };

/**
 * Publishes a table's state to readers on other threads when its storage is shared memory
 * (`SharedStorageTable`), and does nothing at all otherwise. A change readers must see whole
 * (records with the coverage and validity they belong to) goes through `commit`, which makes it
 * and publishes what it changed in one atomic step.
 */
export class SharedStatePublisher<R> {
  readonly #shared: SharedStorageTable<R> | undefined;
  readonly #sources: PublishedStateSources;
  readonly #report: (slot: PublishedSlot, error: unknown) => void;

  /** `report`: where a slot that could not be published is told (the storage withdrew it: readers then ask the owner). */
  constructor(storage: StorageTable<R>, sources: PublishedStateSources, report: (slot: PublishedSlot, error: unknown) => void) {
    this.#shared = isSharedStorageTable(storage) ? storage : undefined;
    this.#sources = sources;
    this.#report = report;
  }

  /** Makes `change` and publishes `slots` after it, in one step readers on other threads see whole. */
  commit(change: () => void, ...slots: PublishedSlot[]): void {
    const shared = this.#shared;
    if (shared === undefined) {
      change();
      return;
    }
    shared.atomically(() => {
      change();
      this.#publishTo(shared, slots);
    });
  }

  /** Publishes `slots` as they are now. */
  publish(...slots: PublishedSlot[]): void {
    const shared = this.#shared;
    if (shared !== undefined) shared.atomically(() => this.#publishTo(shared, slots));
  }

  /** Answers readers on other threads through `owner`; returns how to stop (undefined: storage is not shared). */
  serve(owner: TableOwner<R>): (() => void) | undefined {
    return this.#shared?.serve(owner);
  }

  /**
   * A slot that cannot be published (shared memory is full) is reported, not thrown: the change
   * it describes has been made, and the storage withdrew the slot, so readers stop serving
   * memory and ask the owner rather than read what no longer holds.
   */
  #publishTo(shared: SharedStorageTable<R>, slots: readonly PublishedSlot[]): void {
    for (const slot of slots) {
      try {
        if (slot === 'status') shared.publish(slot, this.#sources.status());
        else if (slot === 'coverage') shared.publish(slot, this.#sources.coverage());
        else if (slot === 'validity') shared.publish(slot, this.#sources.validity());
        else shared.publish(slot, this.#sources.keyTypes());
      } catch (error) {
        this.#report(slot, error);
      }
    }
  }
}
