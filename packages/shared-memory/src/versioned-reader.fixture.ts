import { parentPort, workerData } from 'node:worker_threads';
import { SharedStorageView } from './index.js';

/**
 * Reads a table of versioned records until told to stop, checking that every read saw one
 * commit whole: all records read in one `read` have the same version, and there are 1,000.
 */
interface Versioned {
  readonly id: number;
  readonly version: number;
}
const layout = {
  primaryKey: (r: Versioned) => r.id,
  storageIndexes: { version: { kind: 'hash' as const, key: (r: Versioned) => r.version } },
};
const view = SharedStorageView.open<Versioned>(workerData, layout);
let reads = 0;
let mixed = 0;
let versions = new Set<number>();
let stop = false;
parentPort?.on('message', () => {
  stop = true;
});
function batch(): void {
  for (let i = 0; i < 200; i++) {
    const problem = view.read((at) => {
      const records = at.getRecords({ kind: 'all' });
      const seen = new Set(records.map((r) => r.version));
      const published = at.published('version');
      return records.length !== 1000 || seen.size !== 1 || published !== records[0]?.version ? 1 : 0;
    });
    mixed += problem;
    reads++;
    versions.add(view.read((at) => at.get(0)?.version ?? -1));
  }
  if (stop) {
    parentPort?.postMessage({ reads, mixed, versions: versions.size });
    versions = new Set();
  } else setImmediate(batch);
}
batch();
