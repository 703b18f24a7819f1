import { percentile } from './measure.js';

/** One row of the benchmark table. */
export interface Row {
  readonly scenario: string;
  readonly ours: string;
  readonly baseline: string;
  /** Ours relative to the baseline, phrased so that the target reads the same way. */
  readonly ratio: string;
  readonly target: string;
  readonly met: boolean | 'not run';
}

export function notRun(scenario: string, target: string, reason: string): Row {
  return { scenario, ours: `not run: ${reason}`, baseline: '', ratio: '', target, met: 'not run' };
}

export function printTable(rows: readonly Row[]): void {
  const header = ['scenario', 'tablecache', 'baseline', 'ratio', 'target', 'met'];
  const cells = rows.map((r) => [
    r.scenario,
    r.ours,
    r.baseline,
    r.ratio,
    r.target,
    r.met === 'not run' ? 'not run' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of cells) console.log(line(row));
}

export const rate = (opsPerSecond: number) =>
  opsPerSecond >= 1e6
    ? `${(opsPerSecond / 1e6).toFixed(2)} M/s`
    : opsPerSecond >= 1e3
      ? `${(opsPerSecond / 1e3).toFixed(1)} k/s`
      : `${opsPerSecond.toFixed(0)}/s`;
export const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 0)} ms`;
export const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
export const times = (value: number) => `${value >= 100 ? value.toFixed(0) : value >= 0.01 ? value.toFixed(2) : value.toPrecision(2)}×`;

/** The median and tail of latencies sorted in ascending order. */
export const p50p99 = (sorted: readonly number[]) => `p50 ${ms(percentile(sorted, 0.5))}, p99 ${ms(percentile(sorted, 0.99))}`;
