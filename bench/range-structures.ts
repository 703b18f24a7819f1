/**
 * The ordered structure behind range indexes, sorted blocks (sortedcontainers' design), against
 * the two it replaced, kept here as baselines: a B+ tree (sorted-btree) and a sorted array built
 * in bulk. Same process, same data, same random numbers for all three.
 *
 *   pnpm bench:ranges                    # 10k, 100k and 1M entries
 *   pnpm bench:ranges -- --sizes 10000
 */
import { type RangeStructure, SortedBlocksRange } from '@tablecache/local';
import { BTreeRange } from './range-baselines/btree-range.js';
import { SortedArrayRange } from './range-baselines/sorted-array-range.js';

const sizesArg = process.argv.indexOf('--sizes');
const sizes = sizesArg > 0 ? (process.argv[sizesArg + 1] ?? '').split(',').map(Number) : [10_000, 100_000, 1_000_000];
const UPDATES = 10_000;
const SCANS = 10_000;
const SCAN_LENGTH = 100;

const structures: [string, () => RangeStructure<number>][] = [
  ['B+ tree', () => new BTreeRange<number>()],
  ['sorted array', () => new SortedArrayRange<number>()],
  ['sorted blocks', () => new SortedBlocksRange<number>()],
];

/** A seeded generator (mulberry32), so every structure sees the same numbers. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function time(work: () => void): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

interface Result {
  load: number;
  updates: number;
  scans: number;
  scanned: number;
}

function run(make: () => RangeStructure<number>, n: number): Result {
  const next = random(n);
  const scores = Array.from({ length: n }, () => next() * n);
  const structure = make();
  let scanned = 0;
  const load = time(() => {
    for (let i = 0; i < n; i++) structure.add(scores[i] as number, i, i);
    structure.range(0, 1); // a first read: the arrays sort what they buffered
  });
  const updates = time(() => {
    for (let u = 0; u < UPDATES; u++) {
      const i = Math.floor(next() * n);
      structure.remove(scores[i] as number, i);
      scores[i] = next() * n;
      structure.add(scores[i] as number, i, i);
    }
    structure.range(0, 1);
  });
  const scans = time(() => {
    for (let s = 0; s < SCANS; s++) {
      const ge = next() * (n - SCAN_LENGTH * 2);
      // Scores are uniform over [0, n): a window of SCAN_LENGTH holds about that many entries.
      scanned += structure.range(ge, ge + SCAN_LENGTH).length;
    }
  });
  return { load, updates, scans, scanned };
}

/**
 * Nanoseconds per read of exactly SCAN_LENGTH consecutive entries, and per `slice` of as many
 * from a sorted array at a known index: the floor a read could reach if finding its start were
 * free. Reads start at random entries, so both pay for memory that is not in cache.
 */
function readsAgainstSlice(make: () => RangeStructure<number>, n: number): { read: number; slice: number } {
  const next = random(n);
  // Distinct scores, so that each read returns exactly SCAN_LENGTH entries.
  const sorted = Array.from({ length: n }, (_, i) => i + next());
  const values = sorted.map((_, i) => i);
  const structure = make();
  for (const [i, score] of sorted.entries()) structure.add(score, i, i);
  const starts = Array.from({ length: 65_536 }, () => Math.floor(next() * (n - SCAN_LENGTH - 1)));
  const bounds = starts.map((i) => [sorted[i] as number, sorted[i + SCAN_LENGTH] as number] as const);
  const perOp = (op: (k: number) => number[]): number => {
    let length = 0;
    for (let k = 0; k < 20_000; k++) length += op(k & 65_535).length;
    const count = 500_000;
    const elapsed = time(() => {
      for (let k = 0; k < count; k++) length += op(k & 65_535).length;
    });
    if (length !== (20_000 + count) * SCAN_LENGTH) throw new Error('a read returned the wrong entries');
    return (elapsed * 1e6) / count;
  };
  const slice = perOp((k) => values.slice(starts[k] as number, (starts[k] as number) + SCAN_LENGTH));
  const read = perOp((k) => structure.range(...(bounds[k] as readonly [number, number])));
  return { read, slice };
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, row] of rows.entries()) {
    console.log(`| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`);
    if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  }
}

// Each figure is followed by its ratio to the B+ tree's (sorted-btree, the package a user would reach for).
const rows: string[][] = [['entries', 'structure', 'bulk load (ms)', `${UPDATES} updates (ms)`, `${SCANS} scans of ~${SCAN_LENGTH} (ms)`]];
for (const n of sizes) {
  const results = structures.map(([name, make]) => [name, run(make, n)] as const);
  const [, tree] = results[0]!;
  if (results.some(([, r]) => r.scanned !== tree.scanned)) throw new Error('the structures disagree');
  const cell = (ms: number, treeMs: number, ratio: boolean) => `${ms.toFixed(0)}${ratio ? ` (${(ms / treeMs).toFixed(2)}×)` : ''}`;
  for (const [i, [name, r]] of results.entries()) {
    rows.push([
      i === 0 ? n.toLocaleString('en') : '',
      name,
      cell(r.load, tree.load, i > 0),
      cell(r.updates, tree.updates, i > 0),
      cell(r.scans, tree.scans, i > 0),
    ]);
  }
}
printTable(rows);

const largest = Math.max(...sizes);
console.log(
  `\nReads of exactly ${SCAN_LENGTH} consecutive entries at ${largest.toLocaleString('en')}, against array.slice at a known index:\n`,
);
const reads: string[][] = [['structure', 'ns per read', 'ns per slice', 'read / slice']];
for (const [name, make] of structures) {
  const { read, slice } = readsAgainstSlice(make, largest);
  reads.push([name, read.toFixed(0), slice.toFixed(0), `${(read / slice).toFixed(2)}×`]);
}
printTable(reads);
