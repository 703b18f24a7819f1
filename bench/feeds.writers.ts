/**
 * The writers of `bench:feeds`, in a thread of their own: applications that write are other
 * processes than the cache, so the feed's work on the bench's event loop must not delay their
 * queries. Each connection updates rows of its own in a tight loop; the thread posts the
 * commits per second.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';

export interface WritersJob {
  readonly databaseUrl: string;
  readonly table: string;
  readonly rows: number;
  readonly writers: number;
  readonly ms: number;
  readonly applicationName: string;
}

const job = workerData as WritersJob;
const writers = Array.from(
  { length: job.writers },
  () => new pg.Client({ connectionString: job.databaseUrl, application_name: job.applicationName }),
);
await Promise.all(writers.map((writer) => writer.connect()));
const share = Math.floor(job.rows / writers.length);
let commits = 0;
let stopped = false;
const started = performance.now();
const stop = setTimeout(() => (stopped = true), job.ms);
await Promise.all(
  writers.map(async (writer, w) => {
    for (let k = 0; !stopped; k++) {
      await writer.query(`UPDATE ${job.table} SET nickname = $1 WHERE user_id = $2`, [`writer ${w} #${k}`, 1 + w * share + (k % share)]);
      commits++;
    }
  }),
);
clearTimeout(stop);
const perSecond = (commits / (performance.now() - started)) * 1000;
await Promise.all(writers.map((writer) => writer.end()));
parentPort?.postMessage(perSecond);
