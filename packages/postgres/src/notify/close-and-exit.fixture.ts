/**
 * Run as a process of its own (see pg-notify-feed-connection.pg.test.ts): brings a feed into a
 * state, closes it (or lets it fail), and prints what it did. The process must then exit on its
 * own, which it does only when the feed left no timer or socket behind.
 */
import { closedPort } from './feed.fixture.js';
import { PgNotifyFeed } from './pg-notify-feed.js';

const [state, connectionString] = process.argv.slice(2);
const quiet = { logger: { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined } };
const nowhere = async () => ({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/postgres` });

switch (state) {
  case 'is connected': {
    const feed = new PgNotifyFeed({ connectionString: connectionString! }, quiet);
    await feed.ready();
    await feed.sync();
    await feed.close();
    break;
  }
  case 'is retrying its first connection': {
    const feed = new PgNotifyFeed(await nowhere(), { ...quiet, connectTimeoutMs: 60_000, reconnectDelayMs: { initial: 10, max: 50 } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await feed.close();
    break;
  }
  case 'failed its first connection': {
    const feed = new PgNotifyFeed(await nowhere(), { ...quiet, connectTimeoutMs: 200 });
    await feed.ready().catch(() => undefined);
    break;
  }
  default:
    throw new Error(`unknown state ${state}`);
}
console.log(`closed the feed that ${state}`);
