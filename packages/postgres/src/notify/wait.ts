/**
 * Waits for `promise`, but no longer than `timeoutMs` (then rejects with `timeoutError()`) and
 * not after `signal` aborts (then rejects with its reason). Whatever settles first clears the
 * rest, so a wait leaves no timer or abort listener behind.
 */
export function waitFor<T>(
  promise: Promise<T>,
  options: { readonly signal?: AbortSignal | undefined; readonly timeoutMs?: number | undefined; readonly timeoutError: () => Error },
): Promise<T> {
  const { signal, timeoutMs, timeoutError } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
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

/** Checks a wait's `timeoutMs`: a positive, finite number of milliseconds (no wait may last forever). */
export function isTimeout(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}
