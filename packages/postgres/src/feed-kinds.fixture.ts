import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from '@tablecache/core';
import { PgLogicalFeed } from './logical/pg-logical-feed.js';
import { installPublication, uninstallPublication } from './logical/publication.js';
import { REPLICATION_APPLICATION_PREFIX } from './logical/replication-stream.js';
import { dropReplicationSlot } from './logical/slots.js';
import { testSlotName } from './logical/stream.fixture.js';
import { LISTENER_APPLICATION_PREFIX } from './notify/pg-listener.js';
import { PgNotifyFeed } from './notify/pg-notify-feed.js';
import { installTriggers, uninstallTriggers } from './triggers/install-triggers.js';
import type { TriggerTarget } from './triggers/trigger-target.js';

/** What the fault and property tests set on either feed; everything else is each feed's default. */
export interface FeedTestOptions {
  readonly connectTimeoutMs?: number;
  readonly reconnectDelayMs?: { readonly initial: number; readonly max: number };
  readonly syncTimeoutMs?: number;
  /**
   * A connection that stops answering is found lost within about this long: the NOTIFY feed's
   * liveness check (interval and timeout, half each), the logical feed's silence timeout (with
   * status updates, which ask the server to answer, four times as often).
   */
  readonly lostWithinMs?: number;
  readonly logger?: Logger;
  readonly onError?: (error: unknown) => void;
}

export type TestFeed = PgNotifyFeed | PgLogicalFeed;

/** Where a feed connects: a server, or embedded PGlite (only for the kinds that run there, see `feedKindsOn`). */
export type FeedConnection = { readonly connectionString: string } | { readonly pglite: PGlite };

/** A feed as a test opened it: `close` also removes a durable slot. */
export interface OpenedFeed {
  readonly feed: TestFeed;
  close(): Promise<void>;
}

/**
 * One kind of change feed, for tests that run the same scenario on each: how its changes are set
 * up on the server, how to open it, and what tells it apart under faults.
 */
export interface FeedKind {
  readonly name: 'notify' | 'logical' | 'logical, durable slot';
  /** Server settings it needs on a cluster of its own (`TestCluster.create`). */
  readonly clusterSettings: Readonly<Record<string, string>>;
  /** The start of the application name of its connection that receives changes: a test finds (and kills) that backend by it. */
  readonly applicationPrefix: string;
  /** What it announces once that connection is back: a gap (it may have missed changes), or resumed where it stopped. */
  readonly afterReconnect: 'gap' | 'resumed';
  /** Makes changes to `tables` reach it: the NOTIFY triggers, or the publication. */
  install(target: TriggerTarget, tables: readonly string[]): Promise<void>;
  /** Removes everything `install` (or a watch with `install: true`) put in place. */
  uninstall(target: TriggerTarget): Promise<void>;
  open(connection: FeedConnection, options?: FeedTestOptions): OpenedFeed;
}

const notify: FeedKind = {
  name: 'notify',
  clusterSettings: {},
  applicationPrefix: LISTENER_APPLICATION_PREFIX,
  afterReconnect: 'gap',
  install: (target, tables) => installTriggers(target, { tables }),
  uninstall: (target) => uninstallTriggers(target),
  open(connection, { lostWithinMs, ...options } = {}) {
    const liveness = lostWithinMs === undefined ? {} : { livenessIntervalMs: lostWithinMs / 2, livenessTimeoutMs: lostWithinMs / 2 };
    const feed = new PgNotifyFeed(connection, { ...options, ...liveness });
    return { feed, close: () => feed.close() };
  },
};

function logical(durable: boolean): FeedKind {
  return {
    name: durable ? 'logical, durable slot' : 'logical',
    clusterSettings: { wal_level: 'logical' },
    applicationPrefix: REPLICATION_APPLICATION_PREFIX,
    afterReconnect: durable ? 'resumed' : 'gap',
    install: (target, tables) => installPublication(target, { tables }),
    uninstall: (target) => uninstallPublication(target),
    open(connection, { lostWithinMs, ...options } = {}) {
      if (!('connectionString' in connection)) throw new Error('PGlite has no logical replication: the logical feed needs a server');
      const { connectionString } = connection;
      const slot = durable ? testSlotName() : undefined;
      const silence = lostWithinMs === undefined ? {} : { timeoutMs: lostWithinMs, statusIntervalMs: lostWithinMs / 4 };
      const feed = new PgLogicalFeed({ connectionString }, { ...options, ...silence, ...(slot !== undefined && { slot }) });
      return {
        feed,
        async close() {
          await feed.close(); // resolves once the server has let go of the slot
          if (slot !== undefined) await dropReplicationSlot(connectionString, slot);
        },
      };
    },
  };
}

export const NOTIFY_FEED = notify;
export const LOGICAL_FEED = logical(false);
export const DURABLE_LOGICAL_FEED = logical(true);

/** The NOTIFY feed and the logical feed with a temporary slot: what every scenario runs on. */
export const FEED_KINDS: readonly FeedKind[] = [NOTIFY_FEED, LOGICAL_FEED];

/** The kinds of `FEED_KINDS` a test backend has: PGlite has no logical replication, only NOTIFY. */
export function feedKindsOn(backend: 'postgres' | 'pglite'): readonly FeedKind[] {
  return backend === 'pglite' ? [NOTIFY_FEED] : FEED_KINDS;
}
