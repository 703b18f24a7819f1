import { describe, expect, test } from 'vitest';
import { describePlan, type InvalidationPlan } from './invalidation-plan.js';

describe('describePlan', () => {
  test('prints a line per source table and per opaque source, quoting names that need it', () => {
    const plan: InvalidationPlan = {
      columns: ['Order Id', 'Line', 'note'],
      sources: [
        {
          table: { schema: 'Sales', table: 'Order Items' },
          how: 'rows',
          key: ['Order Id', 'Line'],
          links: [['Order Id', 'Line']],
          aliases: ['i'],
          because: 'i."Order Id" is output column "Order Id"; i."Line" is output column "Line"',
        },
        { table: { schema: 'public', table: 'log' }, how: 'whole', aliases: ['log'], because: 'it has no primary key' },
      ],
      opaque: [{ what: 'function public.notes', because: 'the database cannot tell which tables a function in FROM reads' }],
    };
    expect(structuredClone(plan)).toEqual(plan);
    expect(describePlan(plan)).toBe(
      [
        '"Sales"."Order Items": rows by key ("Order Id", "Line") through output ("Order Id", "Line"), because i."Order Id" is output column "Order Id"; i."Line" is output column "Line"',
        'public.log: whole table, because it has no primary key',
        'function public.notes: not watched, because the database cannot tell which tables a function in FROM reads',
      ].join('\n'),
    );
  });
});
