import { readdirSync, readFileSync } from 'node:fs';
import { TABLECACHE_METRICS } from '@tablecache/core';
import { expect, test } from 'vitest';

// Every TypeScript block of the README is a region of a file in examples/readme/, which the
// type-check compiles: a snippet that stops compiling, or drifts from its file, fails here.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const operating = readme.slice(readme.indexOf('## Operating it'), readme.indexOf('## Benchmarks'));
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => (match[1] as string).trim());
const regions = readdirSync(new URL('./readme/', import.meta.url))
  .filter((file) => file.endsWith('.ts'))
  .flatMap((file) => {
    const text = readFileSync(new URL(`./readme/${file}`, import.meta.url), 'utf8');
    return [...text.matchAll(/\/\/ #region (\S+)\n([\s\S]*?)\/\/ #endregion \1\n/g)].map((match) => (match[2] as string).trim());
  });

test('the README has TypeScript snippets to check', () => {
  expect(snippets.length).toBeGreaterThan(0);
});

test.each(snippets.map((snippet) => [snippet.split('\n').find((line) => line.trim() !== '' && !line.startsWith('import')) ?? '', snippet]))(
  'the README snippet starting %j is a region of a type-checked file in examples/readme',
  (_, snippet) => {
    expect(regions).toContain(snippet);
  },
);

test.each(Object.values(TABLECACHE_METRICS).map((metric) => [metric.name, metric.kind]))(
  'the README\'s "Operating it" lists the metric %s under its Prometheus name',
  (name, kind) => {
    const prometheus = `${name.replaceAll('.', '_')}${kind === 'counter' || kind === 'observable counter' ? '_total' : ''}`;
    expect(operating).toContain(`\`${prometheus}\``);
  },
);
