import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { cdf, commitToVisibleChart, readThroughputChart, writeChart } from './charts.js';

test('cdf gives each distinct sample the share of samples at or below it, in order', () => {
  expect(cdf([4, 2, 1, 2])).toEqual([
    { value: 1, fraction: 0.25 },
    { value: 2, fraction: 0.75 },
    { value: 4, fraction: 1 },
  ]);
  expect(cdf([])).toEqual([]);
});

test('both charts render to SVG with their titles, legends and axis units', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tablecache-charts-'));
  try {
    const latency = commitToVisibleChart([{ perSecond: 100, latenciesMs: [0.5, 0.7, 1.2, 9] }], 'a test run');
    const throughput = readThroughputChart(
      [
        { read: 'by key', by: 'peek', ours: true, opsPerSecond: 5e6 },
        { read: 'by key', by: 'map.get', ours: false, opsPerSecond: 6e6 },
      ],
      'a test run',
    );
    const latencySvg = await readFile(await writeChart(dir, 'latency', latency), 'utf8');
    const throughputSvg = await readFile(await writeChart(dir, 'throughput', throughput), 'utf8');
    expect(latencySvg).toMatch(/^<svg/);
    expect(latencySvg).toContain('commit → visible (ms, log scale)');
    expect(latencySvg).toContain('100 changes/s: p50 1.20 ms, p99 9.00 ms');
    expect(throughputSvg).toContain('operations per second (log scale; higher is better)');
    expect(throughputSvg).toContain('5.00 M/s');
    expect(throughputSvg).toContain('tablecache');
  } finally {
    await rm(dir, { recursive: true });
  }
});
