// The README's worker snippet, type-checked as written.

// #region shared-worker
import { workerData } from 'node:worker_threads';
import { openSharedTable } from '@tablecache/shared-memory';
import { usersIndexes } from './shared-indexes.js';

// In a worker: indexes built by the same code; records and specs are typed as the owner's.
const users = await openSharedTable(workerData, usersIndexes());
users.peek(1); // from shared memory: no message, no copy of the table in this thread
await users.getFirstRecord({ index: 'primaryKey', keys: [1] }); // memory, or the owner's table
await users.sync(); // the owner's sync(): then this thread sees every change committed before it
// #endregion shared-worker
