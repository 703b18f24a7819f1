/** Writers paced by the clock: each operation has a time it is due, whatever became of those before. */

/** Resolves at `time` (a `performance.now()` value); at once when it has passed. */
export async function sleepUntil(time: number): Promise<void> {
  const wait = time - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** How many of `count` operations at `perSecond` are due `elapsedMs` after the first (which is due at 0). */
export function dueBy(elapsedMs: number, perSecond: number, count: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(count, Math.floor((elapsedMs * perSecond) / 1000) + 1);
}

/**
 * Starts `send(i)` for i = 0 … count - 1 at `perSecond`, open-loop: on schedule, without waiting
 * for earlier operations to finish (`send` keeps its own promises). Timers fire at millisecond
 * granularity, so above 1,000/s the operations due in one millisecond start together. Resolves
 * once the last has started.
 */
export async function paced(perSecond: number, count: number, send: (i: number) => void): Promise<void> {
  const began = performance.now();
  let sent = 0;
  while (sent < count) {
    const due = dueBy(performance.now() - began, perSecond, count);
    while (sent < due) send(sent++);
    if (sent < count) await sleepUntil(began + (sent * 1000) / perSecond);
  }
}
