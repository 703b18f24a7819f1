import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The PostgreSQL major version whose cluster tools are installed (Debian's postgresql-common). */
function installedVersion(): string | undefined {
  for (const version of ['17', '16', '15', '14', '13']) if (existsSync(`/usr/lib/postgresql/${version}/bin/postgres`)) return version;
  return undefined;
}

/**
 * Whether this machine can make throwaway clusters (Debian's pg_createcluster, run as root).
 * Fault tests skip without; CI (TABLECACHE_REQUIRE_SERVER=1) runs them regardless, so they fail there instead.
 */
export function canCreateClusters(): boolean {
  return installedVersion() !== undefined && existsSync('/usr/bin/pg_createcluster') && process.getuid?.() === 0;
}

/**
 * A PostgreSQL cluster of its own on a free port, for fault tests that stop and restart a
 * server without touching the shared one. Trust authentication on localhost, like the test
 * server. Always `drop()` it (in afterAll): it is a real server with files on disk.
 */
export class TestCluster {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly #version: string;

  private constructor(version: string, name: string, port: number) {
    this.#version = version;
    this.name = name;
    this.port = port;
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  /** Creates and starts a cluster; `settings` go to postgresql.conf (e.g. `{ wal_level: 'logical' }`). */
  static async create(settings: Readonly<Record<string, string>> = {}): Promise<TestCluster> {
    const version = installedVersion();
    if (version === undefined || !canCreateClusters()) throw new Error('creating clusters needs pg_createcluster and root');
    const cluster = new TestCluster(version, `tablecache_fault_${process.pid}_${Math.random().toString(36).slice(2, 8)}`, await freePort());
    const options = Object.entries({ fsync: 'off', ...settings }).flatMap(([key, value]) => ['-o', `${key}=${value}`]);
    await run('pg_createcluster', [version, cluster.name, '--port', String(cluster.port), ...options, '--', '--auth=trust']);
    await cluster.start();
    return cluster;
  }

  async start(): Promise<void> {
    await this.#ctl('start');
  }

  /** `fast` ends sessions and shuts down cleanly; `immediate` aborts, as a crash would (recovery on start). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.#ctl('stop', '-m', mode);
  }

  async drop(): Promise<void> {
    await run('pg_dropcluster', ['--stop', this.#version, this.name]).catch(() => undefined);
  }

  async #ctl(action: string, ...args: string[]): Promise<void> {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', this.#version, this.name, action, ...args]);
  }
}

/** Drops clusters a crashed test run left behind (their names start with tablecache_fault_). */
export async function dropLeftoverClusters(): Promise<void> {
  const version = installedVersion();
  if (version === undefined || !canCreateClusters()) return;
  const { stdout } = await run('pg_lsclusters', ['--no-header']);
  for (const line of stdout.split('\n')) {
    const [clusterVersion, name] = line.trim().split(/\s+/);
    if (clusterVersion !== undefined && name?.startsWith('tablecache_fault_')) {
      await run('pg_dropcluster', ['--stop', clusterVersion, name]).catch(() => undefined);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
