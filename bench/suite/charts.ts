/**
 * The suite's charts: each is a Vega-Lite spec built from what a scenario measured, rendered to
 * SVG by Vega without a browser or a canvas (`renderer: 'none'` lays text out by an estimate).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { percentile } from './measure.js';
import { ms, rate } from './report.js';

/** One point of an empirical distribution: the share of samples at or below `value`. */
export interface CdfPoint {
  readonly value: number;
  readonly fraction: number;
}

/** The empirical CDF of `samples`: one point per distinct value, its fraction counting all of its ties. */
export function cdf(samples: readonly number[]): CdfPoint[] {
  const sorted = [...samples].sort((a, b) => a - b);
  const points: CdfPoint[] = [];
  sorted.forEach((value, i) => {
    if (sorted[i + 1] !== value) points.push({ value, fraction: (i + 1) / sorted.length });
  });
  return points;
}

/** The commit → visible latencies of one propagation run, in milliseconds. */
export interface LatencySamples {
  readonly perSecond: number;
  readonly latenciesMs: readonly number[];
}

/**
 * The commit → visible distribution of each rate as a CDF on a log-scale time axis, p50 and p99
 * marked on each curve and named in the legend, with the target's 10 ms as a rule.
 */
export function commitToVisibleChart(runs: readonly LatencySamples[], subtitle: string): TopLevelSpec {
  const series = runs.map(({ perSecond, latenciesMs }) => {
    const sorted = [...latenciesMs].sort((a, b) => a - b);
    const p50 = percentile(sorted, 0.5);
    const p99 = percentile(sorted, 0.99);
    return { name: `${perSecond} changes/s: p50 ${ms(p50)}, p99 ${ms(p99)}`, sorted, p50, p99 };
  });
  const color = { field: 'series', type: 'nominal', title: 'rate (eager refresh)', sort: null } as const;
  const x = { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'commit → visible (ms, log scale)' } as const;
  const y = { field: 'fraction', type: 'quantitative', title: 'changes visible by then', axis: { format: '%' } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Commit → visible latency, Postgres NOTIFY, eager refresh', subtitle, offset: 12 },
    width: 560,
    height: 320,
    config: { legend: { orient: 'bottom', direction: 'vertical', labelLimit: 0, symbolType: 'stroke', symbolStrokeWidth: 3 } },
    layer: [
      {
        data: {
          values: series.flatMap(({ name, sorted }) => cdf(sorted).map(({ value, fraction }) => ({ series: name, ms: value, fraction }))),
        },
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: { x, y, color },
      },
      {
        data: {
          values: series.flatMap(({ name, p50, p99 }) => [
            { series: name, ms: p50, fraction: 0.5 },
            { series: name, ms: p99, fraction: 0.99 },
          ]),
        },
        mark: { type: 'point', filled: true, size: 60 },
        encoding: { x, y, color },
      },
      {
        data: {
          values: [
            { fraction: 0.5, text: 'p50' },
            { fraction: 0.99, text: 'p99' },
          ],
        },
        layer: [
          { mark: { type: 'rule', strokeDash: [2, 3], color: 'gray' }, encoding: { y } },
          {
            mark: { type: 'text', align: 'left', baseline: 'bottom', x: 4, dy: -2, color: 'gray', fontSize: 11 },
            encoding: { y, text: { field: 'text' } },
          },
        ],
      },
      {
        data: { values: [{ ms: 10, text: 'target: p99 ≤ 10 ms' }] },
        layer: [
          { mark: { type: 'rule', strokeDash: [6, 4], color: 'firebrick' }, encoding: { x } },
          {
            mark: {
              type: 'text',
              align: 'right',
              baseline: 'bottom',
              dx: -4,
              y: { expr: 'height' },
              dy: -4,
              color: 'firebrick',
              fontSize: 11,
            },
            encoding: { x, text: { field: 'text' } },
          },
        ],
      },
    ],
  };
}

/** One read's measured throughput; `read` groups the reads that answer the same question. */
export interface ThroughputBar {
  readonly read: string;
  readonly by: string;
  readonly ours: boolean;
  readonly opsPerSecond: number;
}

/**
 * Read throughput as horizontal bars, one panel per kind of read with its baselines under ours,
 * on one log scale: Postgres and the in-memory reads are three orders of magnitude apart.
 */
export function readThroughputChart(bars: readonly ThroughputBar[], subtitle: string): TopLevelSpec {
  const reads = [...new Set(bars.map((bar) => bar.read))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Read throughput: tablecache against baselines in the same process', subtitle, offset: 12 },
    data: { values: bars.map((bar) => ({ ...bar, who: bar.ours ? 'tablecache' : 'baseline', label: rate(bar.opsPerSecond) })) },
    // Panels concatenated rather than faceted: a faceted layer with its own y scale per panel
    // makes Vega-Lite warn that it cannot tell the panels' data apart.
    vconcat: reads.map((read, i) => ({
      title: { text: read, anchor: 'start', frame: 'group', fontSize: 12 },
      transform: [{ filter: { field: 'read', equal: read } }],
      width: 480,
      encoding: {
        y: { field: 'by', type: 'nominal', sort: null, title: null, axis: { labelLimit: 0 } },
        x: {
          field: 'opsPerSecond',
          type: 'quantitative',
          scale: { type: 'log' },
          // Stacked bars start at 0, which a log scale cannot show.
          stack: null,
          axis: { format: '~s' },
          title: i === reads.length - 1 ? 'operations per second (log scale; higher is better)' : null,
        },
      },
      layer: [
        {
          mark: 'bar',
          encoding: {
            color: {
              field: 'who',
              type: 'nominal',
              title: null,
              scale: { domain: ['tablecache', 'baseline'], range: ['#4c78a8', '#bab0ac'] },
            },
          },
        },
        { mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 }, encoding: { text: { field: 'label' } } },
      ],
    })),
    resolve: { scale: { x: 'shared' } },
  };
}

/** Renders `spec` and writes it as `name`.svg into `dir`, made if missing. */
export async function writeChart(dir: string, name: string, spec: TopLevelSpec): Promise<string> {
  const svg = await new View(parse(compile(spec).spec), { renderer: 'none' }).toSVG();
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.svg`);
  await writeFile(path, svg);
  return path;
}
