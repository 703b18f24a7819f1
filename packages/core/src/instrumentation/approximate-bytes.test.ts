import { describe, expect, test } from 'vitest';
import { approximateBytes, RecordSizeSampler } from './approximate-bytes.js';

describe('approximate record sizes', () => {
  test('a longer string takes more', () => {
    expect(approximateBytes({ name: 'x'.repeat(1000) })).toBeGreaterThan(approximateBytes({ name: 'x' }) + 900);
  });

  test('nested objects and arrays count their fields', () => {
    const flat = approximateBytes({ id: 1 });
    expect(approximateBytes({ id: 1, tags: ['a', 'b', 'c'] })).toBeGreaterThan(flat + 3 * 16);
  });

  test('cycles and very deep values do not recurse without end', () => {
    const cyclic: Record<string, unknown> = { id: 1 };
    cyclic.self = cyclic;
    expect(approximateBytes(cyclic)).toBeGreaterThan(0);
  });

  test('the sampler measures one record in every n and averages them', () => {
    const sampler = new RecordSizeSampler(2);
    for (const name of ['a', 'bbbbbbbbbbbbbbbbbbbbbb', 'a', 'bbbbbbbbbbbbbbbbbbbbbb']) sampler.add({ name });
    expect(sampler.meanBytes).toBe(approximateBytes({ name: 'a' }));
  });
});
