// What the README's worker-thread snippets share: the user record and how its indexes are built.
import type { PrimaryKeyIndexes } from '@tablecache/core';

export interface User {
  user_id: number;
  name: string;
  city_name: string | null;
}

/** Builds the table's indexes: the owner and every worker call the same function. */
export declare function usersIndexes(): PrimaryKeyIndexes<User, number>;
