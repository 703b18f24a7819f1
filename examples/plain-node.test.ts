import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

test('a plain .mjs file in examples/ runs with node, imports every package by name from the build and reads a shared table from a worker', async () => {
  // `pnpm test` builds before it tests; this runs the built packages, not their sources.
  const script = fileURLToPath(new URL('./plain-node.mjs', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script], { env: { ...process.env, NODE_OPTIONS: '' } });
  expect(stdout.trim()).toBe('world hello\na worker read: world');
}, 60_000);
