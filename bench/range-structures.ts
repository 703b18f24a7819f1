/**
 * Which ordered structure a range index should use: a B+ tree (sorted-btree) or a sorted array
 * built in bulk. Same process, same data, same random numbers for both.
 *
 *   pnpm bench:ranges                    # 10k, 100k and 1M entries
 *   pnpm bench:ranges -- --sizes 10000
 */
import { BTreeRange, SortedArrayRange, type RangeStructure } from '@tablecache/local';

const sizesArg = process.argv.indexOf('--sizes');
const sizes = sizesArg > 0 ? (process.argv[sizesArg + 1] ?? '').split(',').map(Number) : [10_000, 100_000, 1_000_000];
const UPDATES = 10_000;
const SCANS = 10_000;
const SCAN_LENGTH = 100;

/** A seeded generator (mulberry32), so both structures see the same numbers. */
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
    structure.range(0, 1); // a first read: the array sorts what it buffered
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

const rows: string[][] = [['entries', 'structure', 'bulk load (ms)', `${UPDATES} updates (ms)`, `${SCANS} scans of ~${SCAN_LENGTH} (ms)`]];
for (const n of sizes) {
  const btree = run(() => new BTreeRange<number>(), n);
  const array = run(() => new SortedArrayRange<number>(), n);
  if (btree.scanned !== array.scanned) throw new Error('the structures disagree');
  for (const [name, r] of [['B+ tree', btree], ['sorted array', array]] as const) {
    rows.push([n.toLocaleString('en'), name, r.load.toFixed(0), r.updates.toFixed(0), r.scans.toFixed(0)]);
  }
  rows.push(['', 'array / tree', (array.load / btree.load).toFixed(2) + '×', (array.updates / btree.updates).toFixed(2) + '×', (array.scans / btree.scans).toFixed(2) + '×']);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const [i, row] of rows.entries()) {
  console.log(`| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
