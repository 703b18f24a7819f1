/** Measuring helpers: every figure of the suite is a ratio against a baseline run in the same process. */

const gc = (globalThis as { gc?: () => void }).gc;

/** Forces a collection (the suite runs with --expose-gc) so heap figures mean what is retained. */
export function collect(): void {
  gc?.();
}

/** Calls `op(i)` for about `ms` milliseconds (after a warm-up) and returns operations per second. */
export function opsPerSecond(op: (i: number) => unknown, ms: number): number {
  let sink: unknown;
  for (let i = 0; i < 10_000; i++) sink = op(i);
  let count = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 1000; i++) sink = op(count++);
    elapsed = performance.now() - started;
  }
  keep(sink);
  return (count / elapsed) * 1000;
}

/** The same for async operations, awaited one after the other. */
export async function asyncOpsPerSecond(op: (i: number) => Promise<unknown>, ms: number): Promise<number> {
  let sink: unknown;
  for (let i = 0; i < 1000; i++) sink = await op(i);
  let count = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 100; i++) sink = await op(count++);
    elapsed = performance.now() - started;
  }
  keep(sink);
  return (count / elapsed) * 1000;
}

export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

let kept: unknown;
/** Keeps a result alive so the optimizer cannot drop the work that made it. */
function keep(value: unknown): void {
  kept = value;
  if (kept === Symbol.for('never')) console.log(kept);
}

/** A seeded generator (mulberry32): the same keys for us and for the baseline. */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` (a power of two) seeded random keys in 1..`max`, for reads spread over a whole table:
 * index it with `keys[i & (count - 1)]`. Every thread that makes them with the same seed gets the
 * same keys.
 */
export function randomKeys(max: number, count = 2 ** 20, seed = 42): Int32Array {
  const next = random(seed);
  const keys = new Int32Array(count);
  for (let i = 0; i < count; i++) keys[i] = 1 + Math.floor(next() * max);
  return keys;
}

/** What loading the join costs: ours against pg's rows array, time and heap retained. */
export interface LoadComparison<R> {
  /** pg's rows, for the scenarios that read them as a baseline. */
  readonly baselineRows: R[];
  readonly baselineLoadMs: number;
  readonly baselineHeap: number;
  readonly loadMs: number;
  readonly ourHeap: number;
}

/** Runs pg's query into an array, then `load`, each timed and with the heap it retains. */
export async function compareLoad<R>(queryRows: () => Promise<R[]>, load: () => Promise<void>): Promise<LoadComparison<R>> {
  collect();
  let heapBefore = process.memoryUsage().heapUsed;
  let started = performance.now();
  const baselineRows = await queryRows();
  const baselineLoadMs = performance.now() - started;
  collect();
  const baselineHeap = process.memoryUsage().heapUsed - heapBefore;
  heapBefore = process.memoryUsage().heapUsed;
  started = performance.now();
  await load();
  const loadMs = performance.now() - started;
  collect();
  return { baselineRows, baselineLoadMs, baselineHeap, loadMs, ourHeap: process.memoryUsage().heapUsed - heapBefore };
}
