import { LISTENER_APPLICATION_PREFIX, readListenerName } from '../notify/pg-listener.js';
import { installedChannels } from '../triggers/catalog.js';
import { checkTriggers, type TableCheck, type TriggerProblem } from '../triggers/check-triggers.js';
import { formatTable, type TransactionalAccess } from '../triggers/trigger-target.js';

/** A `PgNotifyFeed`'s listening connection, as pg_stat_activity shows it. */
export interface ListenerStatus {
  readonly pid: number;
  /** Its application name was cut: it was matched to its channel by the start of the channel's name. */
  readonly truncated: boolean;
  /** The client's address, `local socket`, or null when the role may not see it. */
  readonly client: string | null;
  /** When it connected (ISO 8601): a listener reconnects on a new connection. */
  readonly since: string | null;
  /** pg_stat_activity.state: `idle` while it waits for notifications. */
  readonly state: string | null;
}

export interface ChannelStatus {
  /** The channel's name, or when `truncated` its start. */
  readonly channel: string;
  /** Known only from a listener whose application name was cut, matching no channel that has triggers. */
  readonly truncated: boolean;
  /** The tables the channel's triggers report, each as `tablecache verify` checks it. */
  readonly tables: readonly TableCheck[];
  /** Problems of the channel as a whole (its trigger function). */
  readonly problems: readonly TriggerProblem[];
  readonly listeners: readonly ListenerStatus[];
}

/** A logical replication slot of the database (a `PgLogicalFeed`'s, or anyone's using pgoutput). */
export interface SlotStatus {
  readonly slot: string;
  readonly temporary: boolean;
  /** The walsender reading it, if one does. */
  readonly pid: number | null;
  /** WAL the server keeps for it, from its confirmed position to the current end. */
  readonly lagBytes: number;
}

/** A publication of the database, with how many tables it publishes. */
export interface PublicationStatus {
  readonly publication: string;
  readonly tables: number;
}

export interface DatabaseStatus {
  /** By name; each channel that has triggers or a listener, or only the one asked about. */
  readonly channels: readonly ChannelStatus[];
  /** The logical feeds' side: pgoutput slots and publications (not read when a channel is asked about). */
  readonly slots: readonly SlotStatus[];
  readonly publications: readonly PublicationStatus[];
  /** pg_notification_queue_usage(): the share (0 to 1) of the server's notification queue in use. */
  readonly queueUsage: number;
  /** One line each: a channel with triggers but no listener or the reverse, a filling queue. */
  readonly warnings: readonly string[];
}

/** Above this share of the queue, status warns: at 1, every transaction that notifies fails at commit. */
const QUEUE_WARNING_USAGE = 0.5;
/** A durable slot no feed reads, keeping more WAL than this, is warned about: it grows until dropped. */
const IDLE_SLOT_WARNING_BYTES = 64 * 2 ** 20;

interface ListenerRow extends Omit<ListenerStatus, 'truncated'> {
  readonly name: string;
}

/**
 * What reaches whom in the database: the channels some table has triggers for (or only
 * `channel`), with their tables checked as `checkTriggers` does, the feeds listening on each
 * (found by their application name), and how full the notification queue is. Reads only.
 */
export async function readStatus(access: TransactionalAccess, channel: string | undefined): Promise<DatabaseStatus> {
  const { known, rows, queueUsage, slots, publications } = await access.transaction(async (run) => ({
    known: channel === undefined ? await installedChannels(run) : [channel],
    rows: await run<ListenerRow>({
      sql: `SELECT pid, application_name AS name, to_json(backend_start) #>> '{}' AS since, state,
                   coalesce(host(client_addr), CASE WHEN client_port = -1 THEN 'local socket' END) AS client
              FROM pg_stat_activity
             WHERE datname = current_database() AND starts_with(application_name, $1::text)
             ORDER BY pid`,
      parameters: [LISTENER_APPLICATION_PREFIX],
    }),
    queueUsage: (await run<{ usage: number }>({ sql: 'SELECT pg_notification_queue_usage() AS usage' }))[0]!.usage,
    slots:
      channel !== undefined
        ? []
        : await run<SlotStatus>({
            sql: `SELECT slot_name AS slot, temporary, active_pid AS pid,
                         coalesce(pg_current_wal_lsn() - confirmed_flush_lsn, 0)::float8 AS "lagBytes"
                    FROM pg_replication_slots
                   WHERE plugin = 'pgoutput' AND database = current_database()
                   ORDER BY slot_name`,
          }),
    publications:
      channel !== undefined
        ? []
        : await run<PublicationStatus>({
            sql: `SELECT p.pubname AS publication, count(t.tablename)::int AS tables
                    FROM pg_publication p LEFT JOIN pg_publication_tables t ON t.pubname = p.pubname
                   GROUP BY p.pubname ORDER BY p.pubname`,
          }),
  }));
  const listening = new Map<string, { truncated: boolean; listeners: ListenerStatus[] }>(
    known.map((name) => [name, { truncated: false, listeners: [] }]),
  );
  for (const { name, ...row } of rows) {
    const read = readListenerName(name);
    if (read === undefined) continue; // the query found it by the prefix this reads
    const match =
      known.find((candidate) => candidate === read.channel) ??
      (read.truncated ? known.find((candidate) => candidate.startsWith(read.channel)) : undefined);
    // With a channel asked about, listeners on others are left out.
    if (match === undefined && channel !== undefined) continue;
    const key = match ?? read.channel;
    const group = listening.get(key) ?? { truncated: read.truncated, listeners: [] };
    group.listeners.push({ ...row, truncated: match === undefined ? read.truncated : match !== read.channel });
    listening.set(key, group);
  }
  const channels: ChannelStatus[] = [];
  for (const [name, { truncated, listeners }] of [...listening].sort(([a], [b]) => a.localeCompare(b))) {
    // A channel known only from a listener has no triggers (`installedChannels` would name it).
    const check = known.includes(name) ? await checkTriggers(access, { channel: name }) : undefined;
    channels.push({
      channel: name,
      truncated,
      tables: check?.tables ?? [],
      // That nothing sends is the "listeners but no triggers" warning, or nothing to warn about without listeners.
      problems: check?.problems.filter((problem) => problem.kind !== 'nothing-sends') ?? [],
      listeners,
    });
  }
  return { channels, slots, publications, queueUsage, warnings: statusWarnings(channels, queueUsage, slots) };
}

/** What an operator should look at: a channel with triggers but no listener or the reverse, a filling queue. */
export function statusWarnings(channels: readonly ChannelStatus[], queueUsage: number, slots: readonly SlotStatus[] = []): string[] {
  const lines: string[] = [];
  for (const { tables, listeners, ...channel } of channels) {
    if (tables.length > 0 && listeners.length === 0)
      lines.push(`channel ${describeChannel(channel)} has triggers but no listener: changes to its tables reach no cache`);
    if (tables.length === 0 && listeners.length > 0)
      lines.push(`channel ${describeChannel(channel)} has listeners but no table has triggers for it: no change reaches them`);
  }
  for (const slot of slots) {
    if (!slot.temporary && slot.pid === null && slot.lagBytes > IDLE_SLOT_WARNING_BYTES) {
      lines.push(
        `slot '${slot.slot}' is read by no feed and keeps ${mebibytes(slot.lagBytes)} of WAL, more every write: start its feed, or drop it (tablecache drop-slot ${slot.slot})`,
      );
    }
  }
  if (queueUsage > QUEUE_WARNING_USAGE) {
    lines.push(
      `the notification queue is ${percent(queueUsage)} full: a session that listens but does not read (one in a long transaction) holds it; when full, every transaction that notifies fails at commit`,
    );
  }
  return lines;
}

/** One fact per line, each naming its channel, so that grep finds every line about a channel or table. */
export function describeStatus(status: DatabaseStatus): string {
  const lines: string[] = [];
  for (const { tables, problems, listeners, ...named } of status.channels) {
    const channel = `channel ${describeChannel(named)}`;
    lines.push(`${channel}: ${count(tables.length, 'table')}, ${count(listeners.length, 'listener')}`);
    for (const table of tables) {
      const subject = `table ${table.table === undefined ? table.name : formatTable(table.table)} on ${channel}`;
      if (table.problems.length === 0) lines.push(`${subject}: ok`);
      for (const problem of table.problems) lines.push(`${subject}: problem: ${problem.message}`);
    }
    for (const problem of problems) lines.push(`${channel}: problem: ${problem.message}`);
    for (const listener of listeners) {
      const matched = listener.truncated && !named.truncated ? ' (channel name truncated, matched by its start)' : '';
      lines.push(
        `listener pid ${listener.pid} on ${channel}${matched}: client ${listener.client ?? 'unknown'}, since ${listener.since ?? 'unknown'}, state ${listener.state ?? 'unknown'}`,
      );
    }
  }
  if (status.channels.length === 0) lines.push('no channel: no table has tablecache triggers and no feed listens');
  for (const { publication, tables } of status.publications) lines.push(`publication '${publication}': ${count(tables, 'table')}`);
  for (const slot of status.slots) {
    const reader = slot.pid === null ? 'read by no feed' : `read by pid ${slot.pid}`;
    lines.push(`slot '${slot.slot}' (${slot.temporary ? 'temporary' : 'durable'}): ${reader}, keeps ${mebibytes(slot.lagBytes)} of WAL`);
  }
  lines.push(`notification queue: ${percent(status.queueUsage)} used`);
  for (const warning of status.warnings) lines.push(`warning: ${warning}`);
  return `${lines.join('\n')}\n`;
}

function describeChannel({ channel, truncated }: { readonly channel: string; readonly truncated: boolean }): string {
  return truncated ? `'${channel}…' (channel name truncated)` : `'${channel}'`;
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
