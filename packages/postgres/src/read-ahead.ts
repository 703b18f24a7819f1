/**
 * Turns a producer of batches into an async iterable of those batches. The producer runs at its own
 * pace, not the consumer's: a database producer finishes (and gives back its connection) as
 * soon as the database has sent everything, however long the consumer's loop body takes.
 * The price is that a slow consumer buffers what it has not read yet.
 *
 * The producer starts on the first `next()`. When the consumer stops early, the signal aborts
 * and the producer should stop at its next batch. A producer's error reaches the consumer at the
 * point it would have read past what arrived before the error.
 */
export async function* readAhead<T>(
  produce: (push: (batch: readonly T[]) => void, signal: AbortSignal) => Promise<void>,
): AsyncGenerator<readonly T[], void, undefined> {
  const batches: (readonly T[])[] = [];
  let finished = false;
  let failure: { readonly error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const controller = new AbortController();
  void produce((batch) => {
    batches.push(batch);
    wake?.();
  }, controller.signal).then(
    () => {
      finished = true;
      wake?.();
    },
    (error: unknown) => {
      failure = { error };
      finished = true;
      wake?.();
    },
  );
  try {
    for (;;) {
      const batch = batches.shift();
      if (batch !== undefined) {
        yield batch;
        continue;
      }
      if (failure !== undefined) throw failure.error;
      if (finished) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    controller.abort();
  }
}

/** The items of an iterable of batches, one by one. */
export async function* items<T>(batches: AsyncIterable<readonly T[]>): AsyncGenerator<T, void, undefined> {
  for await (const batch of batches) yield* batch;
}
