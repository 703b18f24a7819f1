/** The benchmark row: what a users-with-cities query gives, one per user. */
export interface BenchRow {
  readonly user_id: number;
  readonly name: string;
  readonly nickname: string | null;
  readonly city_id: number;
  readonly city_name: string;
}

export function benchRow(i: number): BenchRow {
  const id = 100_000 + i;
  return {
    user_id: id,
    name: `user name ${id}`,
    nickname: i % 2 === 0 ? `nick${id}` : null,
    city_id: id % 1000,
    city_name: `city ${id % 1000}`,
  };
}

export const benchLayout = { primaryKey: (row: BenchRow) => row.user_id, storageIndexes: {} };

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}
