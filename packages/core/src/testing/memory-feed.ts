import type { Change, ChangeFeed, ChangeFeedEvent, EncodedChange, KeyDecoder, PrepareRequest, SourceTable, WaitOptions } from '../index.js';

/**
 * A change feed driven by the test: `emit` delivers at once, so `sync` has nothing to wait for
 * unless `holdSyncs` says so. `prepare` and `decodeKeys` may be set to act as a feed that checks
 * its sources or decodes keys.
 */
export class MemoryFeed implements ChangeFeed {
  readonly #listeners = new Set<(event: ChangeFeedEvent) => void | PromiseLike<void>>();
  #held: Promise<void> | undefined;
  syncs = 0;
  prepare?: (request: PrepareRequest) => Promise<ReadonlyMap<string, SourceTable>>;
  decodeKeys?: KeyDecoder;
  /** Set to act as a feed with positions (see `ChangeFeed.syncTo`). */
  syncTo?: (position: string, options?: WaitOptions) => Promise<void>;

  subscribe(listener: (event: ChangeFeedEvent) => void | PromiseLike<void>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async sync(_options?: WaitOptions): Promise<void> {
    this.syncs++;
    await this.#held;
  }

  /** Syncs wait until the function returned is called. */
  holdSyncs(): () => void {
    let release!: () => void;
    this.#held = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.#held = undefined;
      release();
    };
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  /** Delivers at once; the promise returned settles when every listener says it has applied the event. */
  emit(event: ChangeFeedEvent): Promise<void> {
    const applied: PromiseLike<void>[] = [];
    for (const listener of this.#listeners) {
      const result = listener(event);
      if (result !== undefined) applied.push(result);
    }
    return Promise.all(applied).then(() => undefined);
  }

  changes(...changes: (Change | EncodedChange)[]): void {
    this.emit({ type: 'changes', changes });
  }
}
