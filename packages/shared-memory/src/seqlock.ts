import { BUMP, SEQ, WAITERS } from './memory-layout.js';
import type { SharedMemory } from './shared-memory.js';

/** Buffers this thread is writing (inside a write section): a read on this thread reads them as they are. */
const writing = new WeakSet<SharedArrayBuffer>();

/** How long a reader sleeps at most while a write runs before it looks again (ms). */
const WAIT_MS = 1;

/**
 * The writer's half of a seqlock: the sequence turns odd when the outermost section starts and
 * even when it ends, so a reader that saw the same even sequence before and after its read
 * read one commit whole. Sections nest: an inner one joins the outer.
 */
export class WriteSections {
  readonly #memory: SharedMemory;
  #depth = 0;

  constructor(memory: SharedMemory) {
    this.#memory = memory;
  }

  run<T>(write: () => T): T {
    const words = this.#memory.signedWords;
    if (this.#depth++ === 0) {
      Atomics.add(words, SEQ, 1);
      writing.add(this.#memory.buffer);
    }
    try {
      return write();
    } finally {
      if (--this.#depth === 0) {
        writing.delete(this.#memory.buffer);
        Atomics.add(words, SEQ, 1);
        if (Atomics.load(words, WAITERS) > 0) Atomics.notify(words, SEQ);
      }
    }
  }
}

/** What a reader keeps across attempts: told to keep what a whole read decoded, or to forget it. */
export interface ReadAttempts {
  settle(): void;
  rollback(): void;
}

/**
 * The reader's half: runs `read(arg)` until it ran against one commit. A read that raised is
 * retried if a write interleaved (torn memory raises), and its exception propagates otherwise.
 * The argument is passed through so that a caller needs no closure per read.
 */
export function readConsistently<A, T>(memory: SharedMemory, attempts: ReadAttempts, read: (arg: A) => T, arg: A): T {
  const words = memory.signedWords;
  for (;;) {
    const sequence = Atomics.load(words, SEQ);
    // Every block of this commit ends by BUMP, which the buffer had grown past before: views that
    // reach BUMP cover the commit (one word read, where asking the buffer its length is a call).
    if ((memory.words[BUMP] as number) > memory.length) memory.refresh();
    if ((sequence & 1) !== 0) {
      // This thread's own write section: what it has written so far is what there is.
      if (writing.has(memory.buffer)) return read(arg);
      waitForWriter(words, sequence);
      continue;
    }
    let result: T;
    try {
      result = read(arg);
    } catch (error) {
      attempts.rollback();
      if (Atomics.load(words, SEQ) !== sequence) continue;
      throw error;
    }
    if (Atomics.load(words, SEQ) === sequence) {
      attempts.settle();
      return result;
    }
    attempts.rollback();
  }
}

function waitForWriter(words: Int32Array, sequence: number): void {
  Atomics.add(words, WAITERS, 1);
  try {
    Atomics.wait(words, SEQ, sequence, WAIT_MS);
  } catch {
    // A thread that may not block (a browser's main thread) spins instead.
  } finally {
    Atomics.sub(words, WAITERS, 1);
  }
}
