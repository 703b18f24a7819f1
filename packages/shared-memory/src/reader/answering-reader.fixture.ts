// A worker that opens a reader of the accounts table and answers the test's questions:
// `peek` (memory only), `read` (getFirstRecord) and `syncThenRead` (the reader's own sync first).
import { parentPort, workerData } from 'node:worker_threads';
import { openSharedTable } from '../open-shared-table.js';
import { accountIndexes } from './accounts.fixture.js';

const reader = await openSharedTable(workerData, accountIndexes());
parentPort?.on('message', async ({ ask, id }: { ask: 'peek' | 'read' | 'syncThenRead' | 'close'; id: number }) => {
  try {
    if (ask === 'close') {
      await reader.close();
      parentPort?.close();
      return;
    }
    if (ask === 'syncThenRead') await reader.sync();
    const record = ask === 'peek' ? reader.peek(id) : await reader.getFirstRecord({ index: 'primaryKey', keys: [id] });
    parentPort?.postMessage({ record });
  } catch (error) {
    parentPort?.postMessage({ error: String(error) });
  }
});
parentPort?.postMessage({ ready: true });
