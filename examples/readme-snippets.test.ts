import { readdirSync, readFileSync } from 'node:fs';
import { expect, test } from 'vitest';

// Every TypeScript block of the README is a region of a file in examples/readme/, which the
// type-check compiles: a snippet that stops compiling, or drifts from its file, fails here.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
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
