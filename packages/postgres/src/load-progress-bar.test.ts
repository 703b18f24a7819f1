import { Writable } from 'node:stream';
import type { LoadProgress } from '@tablecache/core';
import { describe, expect, test } from 'vitest';
import { loadProgressBar } from './load-progress-bar.js';

/** A stream that says it is a terminal (or not) and keeps what is written to it. */
function terminal(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { isTTY: boolean; columns: number; cursorTo: () => boolean; clearLine: () => boolean; moveCursor: () => boolean };
  Object.assign(stream, { isTTY, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  return { stream: stream as unknown as NodeJS.WriteStream, output: () => chunks.join('') };
}

const progress = (rows: number, elapsedMs: number, done = false): LoadProgress => ({
  rows,
  bytes: rows * 100,
  elapsedMs,
  expectedRows: 1000,
  done,
});

describe('the load progress bar', () => {
  test('a long load on a terminal draws rows against the expected total, then stops', () => {
    const { stream, output } = terminal(true);
    const report = loadProgressBar({ stream, label: 'users', showAfterMs: 100 });
    report(progress(100, 50));
    report(progress(500, 600));
    report(progress(1000, 900, true));
    expect(output()).toContain('users [');
    expect(output()).toContain('1000/1000 rows');
    expect(output()).toContain('97.7 KiB');
  });

  test('a load that ends before showAfterMs draws nothing', () => {
    const { stream, output } = terminal(true);
    const report = loadProgressBar({ stream, showAfterMs: 1000 });
    report(progress(100, 50));
    report(progress(100, 60, true));
    expect(output()).toBe('');
  });

  test('nothing is drawn when the stream is not a terminal', () => {
    const { stream, output } = terminal(false);
    const report = loadProgressBar({ stream, showAfterMs: 0 });
    report(progress(500, 600));
    report(progress(1000, 900, true));
    expect(output()).toBe('');
  });
});
