// A worker that reads a shared table as fast as it can until told to stop, checking every record
// against the versions that existed: whole (no torn fields), one version per read (no half of a
// commit), never older than what it saw before, and the ranks a read asked for, contiguous.
import { parentPort, workerData } from 'node:worker_threads';
import { openSharedTable } from '../open-shared-table.js';
import { isWhole, type StressReport, versionedIndexes } from './versions.fixture.js';

const { handle, stop, rows, decodedCache } = workerData as { handle: unknown; stop: Int32Array; rows: number; decodedCache: boolean };
const reader = await openSharedTable(handle, versionedIndexes(), { decodedCache });
const problems: string[] = [];
let reads = 0;
let fromMemory = 0;
let records = 0;
let newest = 0;

function check(found: readonly { id: number; rank: number; version: number }[], ge: number, lt: number): void {
  const versions = new Set(found.map((record) => record.version));
  if (versions.size > 1) problems.push(`one read saw versions ${[...versions].join(', ')}`);
  for (const [i, record] of found.entries()) {
    if (!isWhole(record as never))
      problems.push(`torn record ${JSON.stringify(record, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    if (record.rank < ge || record.rank >= lt) problems.push(`rank ${record.rank} outside [${ge}, ${lt})`);
    const previous = found[i - 1];
    if (previous !== undefined && record.rank !== previous.rank + 1) problems.push(`ranks ${previous.rank} then ${record.rank}`);
    if (record.version < newest) problems.push(`version ${record.version} after ${newest}`);
    newest = Math.max(newest, record.version);
  }
  records += found.length;
}

while (Atomics.load(stop, 0) === 0 && problems.length < 20) {
  reads++;
  if (reads % 2 === 0) {
    const id = 1 + Math.floor(Math.random() * rows);
    const record = reader.peek(id);
    if (record !== undefined) {
      fromMemory++;
      check([record], id, id + 1);
    }
  } else {
    const ge = Math.floor(Math.random() * rows);
    const found = reader.getRecordsSync({ index: 'byRank', ge, lt: ge + 100 });
    if (found !== undefined) {
      fromMemory++;
      check(found, ge, ge + 100);
    }
  }
}
await reader.close();
parentPort?.postMessage({ reads, fromMemory, records, problems } satisfies StressReport);
