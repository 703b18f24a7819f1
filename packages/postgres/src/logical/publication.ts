import { InvalidOptionsError, type SourceTable, TablecacheError } from '@tablecache/core';
import { type ResolvedTable, type Run, resolveTable, sqlFormat } from '../triggers/catalog.js';
import { describeTableName, formatTable, type TableName, type TriggerTarget, withAccess } from '../triggers/trigger-target.js';
import { resolveWatchedTable } from '../watched-table.js';

/** The publication the logical feed follows unless told otherwise. */
export const DEFAULT_PUBLICATION = 'tablecache';

/** What a publication for tablecache publishes: every change that can alter a cached record. */
const OPERATIONS = 'insert, update, delete, truncate';

export interface PublicationOptions {
  /** Tables whose changes the feed must see: plain names (optionally `schema.table`) or SQL-quoted ones. */
  readonly tables: readonly TableName[];
  /** The publication (default `tablecache`). */
  readonly publication?: string;
}

export interface UninstallPublicationOptions {
  /** Tables to take out of the publication; without them, the publication is dropped. */
  readonly tables?: readonly TableName[];
  readonly publication?: string;
}

export type PublicationProblemKind =
  | 'no-such-table'
  | 'not-a-table'
  | 'no-primary-key'
  /** The publication does not exist. */
  | 'no-publication'
  /** It publishes some tables, but not this one. */
  | 'not-published'
  /** It does not publish inserts, updates, deletes or truncates. */
  | 'missing-operations'
  /** A partitioned table whose changes would be named by their partitions, which no mapping names. */
  | 'partitions-not-via-root'
  /** `REPLICA IDENTITY NOTHING`: deletes and key changes would carry no key. */
  | 'no-replica-identity'
  /** Checked without tables, and the publication publishes none. */
  | 'nothing-published';

export interface PublicationProblem {
  readonly kind: PublicationProblemKind;
  /** One line that names what is concerned and what is wrong. */
  readonly message: string;
}

export interface PublishedTableCheck {
  /** The name as given. */
  readonly name: string;
  /** The table the name resolves to, as changes name it; undefined when there is none. */
  readonly table: SourceTable | undefined;
  readonly problems: readonly PublicationProblem[];
}

export interface PublicationCheck {
  readonly publication: string;
  readonly tables: readonly PublishedTableCheck[];
  /** Problems of the publication as a whole. */
  readonly problems: readonly PublicationProblem[];
  readonly ok: boolean;
}

/** Changes to some tables would not reach the logical feed; the message lists each problem. */
export class MissingPublicationError extends TablecacheError {
  override name = 'MissingPublicationError';
  constructor(readonly check: PublicationCheck) {
    const problems = [...check.problems, ...check.tables.flatMap((table) => table.problems)];
    super(
      `changes may not reach publication '${check.publication}':\n${problems.map((problem) => `  - ${problem.message}`).join('\n')}\n` +
        'installPublication (or tablecache publish) creates the publication and adds missing tables',
    );
  }
}

/** A publication name: an identifier of at most 63 bytes. */
export function checkPublicationName(publication: unknown): string {
  if (typeof publication !== 'string' || publication === '' || Buffer.byteLength(publication) > 63) {
    throw new InvalidOptionsError(`a publication name must be a non-empty string of at most 63 bytes; got ${JSON.stringify(publication)}`);
  }
  return publication;
}

interface PublicationRow {
  readonly allTables: boolean;
  readonly insert: boolean;
  readonly update: boolean;
  readonly delete: boolean;
  readonly truncate: boolean;
  readonly viaRoot: boolean;
}

async function readPublication(run: Run, publication: string): Promise<PublicationRow | undefined> {
  const [row] = await run<PublicationRow>({
    sql: `SELECT puballtables AS "allTables", pubinsert AS insert, pubupdate AS update, pubdelete AS delete,
                 pubtruncate AS truncate, pubviaroot AS "viaRoot"
            FROM pg_publication WHERE pubname = $1`,
    parameters: [publication],
  });
  return row;
}

/** Whether the publication names the table itself (or all tables, or its schema), as `pg_publication_tables` resolves it. */
async function isPublished(run: Run, publication: string, table: ResolvedTable): Promise<boolean> {
  const rows = await run<{ found: number }>({
    sql: `SELECT 1 AS found FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3
          UNION ALL
          SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
           WHERE p.pubname = $1 AND r.prrelid = $4::oid`,
    parameters: [publication, table.schema, table.table, table.id],
  });
  return rows.length > 0;
}

async function replicaIdentity(run: Run, table: ResolvedTable): Promise<string> {
  const [row] = await run<{ identity: string }>({
    sql: 'SELECT relreplident::text AS identity FROM pg_class WHERE oid = $1::oid',
    parameters: [table.id],
  });
  return row?.identity ?? 'd';
}

/** The tables a publication publishes by name (for a check without tables). */
async function publishedTables(run: Run, publication: string): Promise<SourceTable[]> {
  return run<SourceTable>({
    sql: 'SELECT schemaname AS schema, tablename AS table FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2',
    parameters: [publication],
  });
}

/**
 * Checks that changes to `tables` reach the logical feed through `publication`: it exists and
 * publishes every operation, each name resolves to a table with a primary key whose deletes carry
 * their key, it is published, and a partitioned one is published as itself (through its root).
 * Without tables, checks that the publication publishes something. Reads the catalog only.
 */
export async function checkPublication(
  target: TriggerTarget,
  options: { readonly tables?: readonly TableName[]; readonly publication?: string } = {},
): Promise<PublicationCheck> {
  const { tables } = options;
  if (tables !== undefined && !Array.isArray(tables)) throw new InvalidOptionsError('tables must be an array of table names');
  const publication = checkPublicationName(options.publication ?? DEFAULT_PUBLICATION);
  return withAccess(target, (access) =>
    access.transaction(async (run) => {
      const found = await readPublication(run, publication);
      const problems: PublicationProblem[] = [];
      if (found === undefined) problems.push({ kind: 'no-publication', message: `publication '${publication}' does not exist` });
      else {
        const missing = (['insert', 'update', 'delete', 'truncate'] as const).filter((operation) => !found[operation]);
        if (missing.length > 0) {
          problems.push({ kind: 'missing-operations', message: `publication '${publication}' does not publish ${missing.join(', ')}` });
        }
      }
      const checked = tables ?? (found === undefined ? [] : await publishedTables(run, publication));
      if (tables === undefined && found !== undefined && checked.length === 0) {
        problems.push({ kind: 'nothing-published', message: `publication '${publication}' publishes no table` });
      }
      const results: PublishedTableCheck[] = [];
      for (const name of checked) results.push(await checkTable(run, name, publication, found));
      return { publication, tables: results, problems, ok: problems.length === 0 && results.every((table) => table.problems.length === 0) };
    }),
  );
}

async function checkTable(run: Run, name: TableName, publication: string, found: PublicationRow | undefined): Promise<PublishedTableCheck> {
  const label = typeof name === 'string' ? name : formatTable(name);
  const described = describeTableName(name);
  const watched = await resolveWatchedTable(run, name);
  if ('problem' in watched) return { name: label, table: watched.source, problems: [watched.problem] };
  const { table } = watched;
  const source = { schema: table.schema, table: table.table };
  const problems: PublicationProblem[] = [];
  if ((await replicaIdentity(run, table)) === 'n') {
    problems.push({
      kind: 'no-replica-identity',
      message: `table ${described} has REPLICA IDENTITY NOTHING: its deletes carry no key (ALTER TABLE … REPLICA IDENTITY DEFAULT)`,
    });
  }
  if (found !== undefined && !(await isPublished(run, publication, table))) {
    problems.push({ kind: 'not-published', message: `table ${described} is not in publication '${publication}'` });
  }
  if (found !== undefined && table.kind === 'p' && !found.viaRoot) {
    problems.push({
      kind: 'partitions-not-via-root',
      message: `table ${described} is partitioned and publication '${publication}' names changes by partition (publish_via_partition_root is off)`,
    });
  }
  return { name: label, table: source, problems };
}

/** What installing repairs (the rest needs the user: a name to correct, a key, a replica identity). */
const REPAIRABLE = new Set<PublicationProblemKind>(['no-publication', 'not-published', 'missing-operations', 'partitions-not-via-root']);

/**
 * The statements that make `publication` publish `tables` (install), or take them out of it, or
 * drop it (uninstall). Identifiers are quoted by Postgres.
 */
export async function publicationStatements(
  target: TriggerTarget,
  action: 'install' | 'uninstall',
  options: UninstallPublicationOptions,
): Promise<string[]> {
  const publication = checkPublicationName(options.publication ?? DEFAULT_PUBLICATION);
  if (action === 'install' && (options.tables === undefined || options.tables.length === 0)) {
    throw new InvalidOptionsError('installPublication needs at least one table');
  }
  return withAccess(target, (access) =>
    access.transaction(async (run) => {
      const found = await readPublication(run, publication);
      if (action === 'uninstall') {
        if (found === undefined) return [];
        if (options.tables === undefined) return [await sqlFormat(run, 'DROP PUBLICATION %I', publication)];
        const published: ResolvedTable[] = [];
        for (const name of options.tables) {
          const table = await resolveTable(run, name);
          if (table !== undefined && !found.allTables && (await isPublished(run, publication, table))) published.push(table);
        }
        if (published.length === 0) return [];
        return [await sqlFormat(run, `ALTER PUBLICATION %I DROP TABLE ${await tableList(run, published)}`, publication)];
      }
      const check = await checkPublication(access, { tables: options.tables ?? [], publication });
      const unrepairable = check.tables.flatMap((table) => table.problems).filter((problem) => !REPAIRABLE.has(problem.kind));
      if (unrepairable.length > 0) throw new MissingPublicationError(check);
      const resolved: ResolvedTable[] = [];
      for (const name of options.tables ?? []) resolved.push((await resolveTable(run, name)) as ResolvedTable);
      const settings = `WITH (publish = '${OPERATIONS}', publish_via_partition_root = true)`;
      if (found === undefined)
        return [await sqlFormat(run, `CREATE PUBLICATION %I FOR TABLE ${await tableList(run, resolved)} ${settings}`, publication)];
      const statements: string[] = [];
      const unpublished: ResolvedTable[] = [];
      // A publication FOR ALL TABLES publishes every table already (and cannot have tables added).
      for (const table of resolved) if (!found.allTables && !(await isPublished(run, publication, table))) unpublished.push(table);
      if (unpublished.length > 0)
        statements.push(await sqlFormat(run, `ALTER PUBLICATION %I ADD TABLE ${await tableList(run, unpublished)}`, publication));
      const kinds = new Set(check.problems.map((problem) => problem.kind));
      const viaRoot = check.tables.some((table) => table.problems.some((problem) => problem.kind === 'partitions-not-via-root'));
      if (kinds.has('missing-operations') || viaRoot) {
        statements.push(
          await sqlFormat(
            run,
            `ALTER PUBLICATION %I SET (publish = '${OPERATIONS}'${viaRoot ? ', publish_via_partition_root = true' : ''})`,
            publication,
          ),
        );
      }
      return statements;
    }),
  );
}

async function tableList(run: Run, tables: readonly SourceTable[]): Promise<string> {
  const names: string[] = [];
  for (const table of tables) names.push(await sqlFormat(run, '%I.%I', table.schema, table.table));
  return names.join(', ');
}

/**
 * Makes `publication` (default `tablecache`) publish every change to `tables`: creates it (with
 * `publish_via_partition_root`, so a partitioned table's changes are named by it) or adds what it
 * lacks. Installing again is harmless. Needs the CREATE privilege on the database and ownership
 * of the tables (or a superuser). Refuses, changing nothing, tables that do not exist, have no
 * primary key, or whose deletes carry no key.
 */
export async function installPublication(target: TriggerTarget, options: PublicationOptions): Promise<void> {
  await withAccess(target, async (access) => {
    const statements = await publicationStatements(access, 'install', options);
    if (statements.length === 0) return;
    await access.transaction(async (run) => {
      for (const statement of statements) await run({ sql: statement });
    });
  });
}

/** Takes `tables` out of the publication, or, without tables, drops it. Harmless when there is nothing to remove. */
export async function uninstallPublication(target: TriggerTarget, options: UninstallPublicationOptions = {}): Promise<void> {
  await withAccess(target, async (access) => {
    const statements = await publicationStatements(access, 'uninstall', options);
    await access.transaction(async (run) => {
      for (const statement of statements) await run({ sql: statement });
    });
  });
}

/**
 * `checkPublication`, for the logical feed to call before it reports ready: resolves with each
 * name's table, or rejects with `MissingPublicationError`. With `install`, it first installs
 * what can be installed, then checks again.
 */
export function requirePublication(
  target: TriggerTarget,
  options: { readonly tables?: readonly TableName[]; readonly publication?: string; readonly install: boolean },
): Promise<ReadonlyMap<string, SourceTable>> {
  return withAccess(target, async (access) => {
    let check = await checkPublication(access, options);
    const repairable = [...check.problems, ...check.tables.flatMap((table) => table.problems)].every((problem) =>
      REPAIRABLE.has(problem.kind),
    );
    if (!check.ok && options.install && repairable && options.tables !== undefined && options.tables.length > 0) {
      await installPublication(access, {
        tables: options.tables,
        ...(options.publication !== undefined && { publication: options.publication }),
      });
      check = await checkPublication(access, options);
    }
    if (!check.ok) throw new MissingPublicationError(check);
    return new Map(check.tables.map((table) => [table.name, table.table as SourceTable]));
  });
}
