import { describe, expect, test } from 'vitest';
import type { LoadProgress } from './refresh-engine.js';
import { all, user, usersTable } from './users.fixture.js';

const fiveUsers = [1, 2, 3, 4, 5].map((id) => user(id));

describe("a load's progress", () => {
  test('is reported as rows arrive, with the rows so far, then once done', async () => {
    const { table } = usersTable(fiveUsers); // the memory database delivers rows one by one
    const reports: LoadProgress[] = [];
    await table.load(all, { onProgress: (progress) => reports.push(progress) });
    expect(reports.map(({ rows, done }) => [rows, done])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, false],
      [5, false],
      [5, true],
    ]);
  });

  test('estimates the bytes written, growing with the rows', async () => {
    const { table } = usersTable(fiveUsers);
    const reports: LoadProgress[] = [];
    await table.load(all, { onProgress: (progress) => reports.push(progress) });
    const bytes = reports.map((report) => report.bytes);
    expect(bytes[0]).toBeGreaterThan(0);
    expect(bytes.at(-1)).toBeGreaterThan(bytes[0] as number);
  });

  test('carries the rows the database expects when the access can estimate them', async () => {
    const { table, db } = usersTable(fiveUsers);
    db.estimateRows = async () => 5;
    const reports: LoadProgress[] = [];
    await table.load(all, { onProgress: (progress) => reports.push(progress) });
    expect(reports.every((report) => report.expectedRows === 5)).toBe(true);
  });

  test('has no expected total when the estimate fails', async () => {
    const { table, db } = usersTable(fiveUsers);
    db.estimateRows = () => Promise.reject(new Error('no planner here'));
    const reports: LoadProgress[] = [];
    await table.load(all, { onProgress: (progress) => reports.push(progress) });
    expect(reports.at(-1)).toMatchObject({ rows: 5, done: true, expectedRows: undefined });
  });

  test('a callback that throws is logged and the load goes on', async () => {
    const warnings: string[] = [];
    const logger = { error: () => {}, warn: (line: string) => warnings.push(line), info: () => {}, debug: () => {} };
    const { table } = usersTable(fiveUsers, { logger });
    await table.load(all, {
      onProgress: () => {
        throw new Error('bar broke');
      },
    });
    expect(await table.getRecords(all)).toHaveLength(5);
    expect(warnings[0]).toContain('bar broke');
  });
});
