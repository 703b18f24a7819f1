import { type Change, PrimaryKeyIndexes } from '@tablecache/core';

/** A row of the Postgres test: several column types, so what crosses to a worker is checked too. */
export interface Account {
  readonly id: number;
  readonly name: string;
  readonly opened: Date;
  readonly tags: unknown;
  readonly balance: string;
}

export const ACCOUNTS_SQL = 'SELECT id, name, opened, tags, balance FROM accounts';

/** The indexes of the accounts table, built the same way by the owner and its readers. */
export function accountIndexes() {
  return new PrimaryKeyIndexes<Account, number>({
    primaryKey: (account) => account.id,
    queryAll: { sql: `${ACCOUNTS_SQL} ORDER BY id` },
    querySome: (ids) => ({ sql: `${ACCOUNTS_SQL} WHERE id = ANY($1::int[])`, parameters: [ids] }),
  });
}

export const accountsById = (change: Change) => [
  { index: 'primaryKey' as const, keys: [change.old?.id, change.new?.id].filter((id): id is number => typeof id === 'number') },
];
