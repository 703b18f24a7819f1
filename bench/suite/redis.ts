import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient } from 'redis';

function newClient(url: string) {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
  client.on('error', () => undefined);
  return client;
}

export type Redis = ReturnType<typeof newClient>;

/**
 * A Redis client for `url`. When nothing answers on this machine's default port, it starts
 * redis-server the way .ci/run starts Postgres; otherwise the reason goes into the table.
 */
export async function connectRedis(url: string): Promise<Redis | string> {
  const attempt = async () => {
    const client = newClient(url);
    await client.connect();
    return client;
  };
  try {
    return await attempt();
  } catch (first) {
    if (new URL(url).hostname !== '127.0.0.1' && new URL(url).hostname !== 'localhost')
      return `Redis at ${url} does not answer (${(first as Error).message})`;
    try {
      await promisify(execFile)('redis-server', [
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '--port',
        new URL(url).port || '6379',
        '--save',
        '',
        '--appendonly',
        'no',
      ]);
      await new Promise((resolve) => setTimeout(resolve, 500));
      return await attempt();
    } catch (second) {
      return `no Redis at ${url}, and starting redis-server failed (${(second as Error).message})`;
    }
  }
}
