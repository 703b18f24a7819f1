import type { LoadProgress } from '@tablecache/core';
import cliProgress from 'cli-progress';

export interface LoadProgressBarOptions {
  /** Where the bar is drawn (default `process.stderr`); nothing is drawn unless it is a terminal. */
  readonly stream?: NodeJS.WriteStream;
  /** Names the load on the bar (default `load`). */
  readonly label?: string;
  /** A load that finishes sooner shows no bar at all (default 500 ms). */
  readonly showAfterMs?: number;
}

/** 1536 → `1.5 KiB`. */
function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * A terminal progress bar for `table.load(spec, { onProgress: loadProgressBar() })`: rows against
 * the planner's estimate, memory, rate and time left, drawn with cli-progress on stderr when it
 * is a terminal and the load takes longer than `showAfterMs`. The estimate is the planner's:
 * the bar's total grows when the rows pass it.
 */
export function loadProgressBar(options: LoadProgressBarOptions = {}): (progress: LoadProgress) => void {
  const { stream = process.stderr, label = 'load', showAfterMs = 500 } = options;
  let bar: cliProgress.SingleBar | undefined;
  return (progress) => {
    if (!stream.isTTY) return;
    if (bar === undefined) {
      if (progress.done || progress.elapsedMs < showAfterMs) return;
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `${label} [{bar}] {percentage}% | {value}/{total} rows | {memory} | {rate} rows/s | {eta_formatted} left`,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(progress.expectedRows ?? progress.rows, 0, { memory: '', rate: 0 });
    }
    const total = Math.max(progress.expectedRows ?? 0, progress.rows);
    bar.setTotal(progress.done ? progress.rows : total);
    bar.update(progress.rows, {
      memory: formatBytes(progress.bytes),
      rate: Math.round(progress.rows / Math.max(progress.elapsedMs / 1000, 0.001)),
    });
    if (progress.done) bar.stop();
  };
}
