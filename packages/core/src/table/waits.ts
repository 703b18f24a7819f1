/**
 * Waits for `promise`, but no longer than `timeoutMs` (then rejects with `timeoutError()`) and
 * not after `signal` aborts (then rejects with its reason, as fetch and Node's own APIs do).
 * Whatever settles first clears the rest, so a wait leaves no timer or abort listener behind.
 * The work behind `promise` is not stopped by this; callers that can stop it check the signal.
 */
export function waitFor<T>(
  promise: Promise<T>,
  options: { readonly signal?: AbortSignal | undefined; readonly timeoutMs?: number | undefined; readonly timeoutError?: () => Error },
): Promise<T> {
  const { signal, timeoutMs, timeoutError = () => new Error(`timed out after ${timeoutMs} ms`) } = options;
  if (signal === undefined && timeoutMs === undefined) return promise;
  if (signal?.aborted) {
    promise.catch(() => undefined); // nobody waits for it any more; its failure must not go unhandled
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => settle(() => reject(timeoutError())), timeoutMs);
    const onAbort = () => settle(() => reject(signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    function settle(finish: () => void): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      finish();
    }
    promise.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}

/** The longest delay `setTimeout` takes (about 24.8 days); a longer one would fire at once. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** Checks a wait's `timeoutMs`: a positive number of milliseconds a timer can wait (no wait may last forever). */
export function isTimeout(value: unknown): value is number {
  return typeof value === 'number' && value > 0 && value <= LONGEST_TIMER_MS;
}

/**
 * The items of `source`, each wait for the next one abortable: an abort rejects at once with the
 * signal's reason and ends the source (its `return` runs, so a database stream stops).
 */
export async function* abortableItems<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T, void, undefined> {
  if (signal === undefined) {
    yield* source;
    return;
  }
  const iterator = source[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      const next = await waitFor(iterator.next(), { signal });
      if (next.done === true) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // The pending next() may still settle; its result is dropped, its rejection too.
    if (!done) void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}

/** A promise settled from outside, that never counts as an unhandled rejection. */
export class Signal<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.promise.catch(() => undefined);
  }
}
