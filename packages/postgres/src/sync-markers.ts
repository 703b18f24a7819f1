import { randomUUID } from 'node:crypto';

/** A sync marker on its way: its text on the wire, and the syncs waiting for it. */
export interface SyncMarker {
  /** `<feed id>:<number>`: what the feed writes, and finds again when the marker comes back. */
  readonly text: string;
  readonly arrived: Promise<void>;
}

interface Waiting {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A feed's read-your-writes markers: each is written through the database after the sync that
 * asks for it starts, and comes back in commit order, after every change committed before it.
 * One arriving releases the syncs of every marker before it; a gap releases them all (what they
 * waited for is covered by it); a feed that closes rejects them. Markers of other feeds, or
 * forged ones, name no marker of this one and release nothing.
 */
export class SyncMarkers {
  readonly #id = randomUUID();
  readonly #waiting = new Map<number, Waiting>();
  #count = 0;

  /** A new marker to write. */
  add(): SyncMarker {
    const number = ++this.#count;
    let waiting!: Waiting;
    const arrived = new Promise<void>((resolve, reject) => {
      waiting = { resolve, reject };
    });
    arrived.catch(() => undefined); // its syncs may all have stopped waiting
    this.#waiting.set(number, waiting);
    return { text: `${this.#id}:${number}`, arrived };
  }

  /** Whether syncs still wait for the marker (not released, failed or rejected). */
  isWaiting(marker: SyncMarker): boolean {
    return this.#waiting.has(this.#number(marker.text));
  }

  /** A marker that could not be written: its syncs fail with `error`. */
  failed(marker: SyncMarker, error: unknown): void {
    const number = this.#number(marker.text);
    this.#waiting.get(number)?.reject(error);
    this.#waiting.delete(number);
  }

  /** A marker came back: it and every marker before it are released. Whether it was one of these. */
  arrived(text: string): boolean {
    const number = this.#number(text);
    if (!this.#waiting.has(number)) return false;
    this.#release(number);
    return true;
  }

  /** A gap: every waiting sync is done. */
  releaseAll(): void {
    this.#release(Infinity);
  }

  /** The feed closed (or never started): every waiting sync fails with `error`. */
  rejectAll(error: unknown): void {
    for (const waiting of this.#waiting.values()) waiting.reject(error);
    this.#waiting.clear();
  }

  #release(last: number): void {
    for (const [number, waiting] of this.#waiting) {
      if (number <= last) {
        this.#waiting.delete(number);
        waiting.resolve();
      }
    }
  }

  #number(text: string): number {
    return text.startsWith(`${this.#id}:`) ? Number(text.slice(this.#id.length + 1)) : Number.NaN;
  }
}
