import type { Change, ChangeFeed, ChangeFeedEvent } from '../index.js';

/** A change feed driven by the test: `emit` delivers at once, so `sync` has nothing to wait for. */
export class MemoryFeed implements ChangeFeed {
  readonly #listeners = new Set<(event: ChangeFeedEvent) => void>();
  syncs = 0;

  subscribe(listener: (event: ChangeFeedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async sync(): Promise<void> {
    this.syncs++;
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  emit(event: ChangeFeedEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  changes(...changes: Change[]): void {
    this.emit({ type: 'changes', changes });
  }
}
