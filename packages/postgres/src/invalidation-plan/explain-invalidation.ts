import { formatName, type InvalidationPlan, type OpaqueSource, type Query, type SourcePlan, type SourceTable } from '@tablecache/core';
import type { QueryExecutorProvider } from 'kysely';
import { compileQuery } from '../compile-query.js';
import type { PostgresAccess } from '../postgres-access.js';
import { type ColumnLinks, collectLinks, coupledAliases, formatRef, outputColumns } from './column-links.js';
import { outputNames } from './output-names.js';
import type { ColumnRef } from './plan-expressions.js';
import { allNodes, type PlacedNode, placeNodes, planRoot, scansRelation } from './plan-tree.js';
import { type RelationInfo, readRelations, relationKey } from './relation-info.js';

/** The alias of the `SELECT *` put around the query, so its output is exactly the query's columns. */
const WRAPPER = 'tablecache_explained';

/** One scan of a base relation in the plan. */
interface Occurrence {
  readonly alias: string;
  readonly table: SourceTable;
  readonly placed: PlacedNode;
}

/**
 * Discovers from the database how changes to the tables `query` reads map to its records: the
 * planner's `EXPLAIN (VERBOSE, FORMAT JSON)` (with the query's parameters bound) names every base
 * relation it scans, views expanded, subqueries, CTEs and `EXISTS`/`IN` included, and the
 * equality conditions that link their columns; the catalog gives primary keys. Runs nothing but
 * EXPLAIN and catalog reads (the query itself only as `LIMIT 0`, to read its column names).
 */
export async function explainInvalidation(
  access: { readonly kysely: QueryExecutorProvider; readonly transaction: PostgresAccess['transaction'] },
  query: Query,
): Promise<InvalidationPlan> {
  const statement = compileQuery(query, access.kysely);
  const wrapped = `SELECT * FROM (${statement.sql}) ${WRAPPER}`;
  return access.transaction(async (run) => {
    const root = placeNodes(
      planRoot(await run<Record<string, unknown>>({ sql: `EXPLAIN (VERBOSE, FORMAT JSON) ${wrapped}`, parameters: statement.parameters })),
    );
    const columns = await outputNames(run, statement, outputWidth(root));
    let occurrences: Occurrence[] = [];
    const opaque: OpaqueSource[] = [];
    for (const placed of allNodes(root)) {
      const { node } = placed;
      if (scansRelation(node)) {
        occurrences.push({ alias: node.Alias, table: { schema: node.Schema, table: node['Relation Name'] }, placed });
      } else if (node['Node Type'] === 'Function Scan') {
        const name =
          typeof node['Function Name'] === 'string'
            ? `${node.Schema ?? ''}${node.Schema ? '.' : ''}${node['Function Name']}`
            : 'a function';
        opaque.push({ what: `function ${name}`, because: 'the database cannot tell which tables a function in FROM reads' });
      } else if (node['Node Type'] === 'Foreign Scan' || node['Node Type'] === 'Custom Scan') {
        opaque.push({
          what: `${node['Node Type'].toLowerCase()} ${String(node.Relations ?? '')}`.trim(),
          because: 'the plan does not name the relations it reads',
        });
      }
    }
    // Sorted, so a plan reads the same whatever join order the planner picked.
    occurrences = occurrences.sort(
      (a, b) => compareText(a.table.schema, b.table.schema) || compareText(a.table.table, b.table.table) || compareText(a.alias, b.alias),
    );
    const baseAliases = new Set(occurrences.map((occurrence) => occurrence.alias));
    const links = collectLinks(root, baseAliases);
    const coupled = coupledAliases(root);
    const outputs = new Map<string, number>();
    for (let position = 0; position < columns.length; position++) {
      for (const ref of outputColumns(root, position, WRAPPER, baseAliases)) {
        const key = formatRef(ref);
        if (!outputs.has(key)) outputs.set(key, position);
      }
    }
    const byTable = new Map<string, Occurrence[]>();
    for (const occurrence of occurrences) {
      const key = relationKey(occurrence.table);
      byTable.set(key, [...(byTable.get(key) ?? []), occurrence]);
    }
    const relations = await readRelations(
      run,
      [...byTable.values()].map((group) => group[0]!.table),
    );
    const sources = [...byTable.entries()].map(([key, group]) =>
      planSource(group, relations.get(key), { links, coupled, outputs, columns }),
    );
    return { columns, sources, opaque };
  });
}

interface Analysis {
  readonly links: ColumnLinks;
  readonly coupled: ReadonlyMap<string, string>;
  /** Output position by `alias.column` of the base column it holds. */
  readonly outputs: ReadonlyMap<string, number>;
  readonly columns: readonly string[];
}

function planSource(group: readonly Occurrence[], relation: RelationInfo | undefined, analysis: Analysis): SourcePlan {
  const { table } = group[0]!;
  const aliases = group.map((occurrence) => occurrence.alias);
  const whole = (because: string): SourcePlan => ({ table, how: 'whole', aliases, because });
  if (relation === undefined) return whole('the catalog does not have it');
  if (relation.kind === 'f') return whole('it is a foreign table: changes made on the remote server are not reported');
  if (relation.kind === 'm') return whole('it is a materialized view: REFRESH replaces it as a whole');
  if (relation.key === null) return whole('it has no primary key');
  const key = relation.key;
  const links: string[][] = [];
  const reasons: string[] = [];
  for (const occurrence of group) {
    const named = group.length > 1 ? `${occurrence.alias}: ` : '';
    const coupled = analysis.coupled.get(occurrence.alias);
    if (coupled !== undefined) return whole(`${named}${coupled}`);
    const link: string[] = [];
    for (const column of key) {
      const start: ColumnRef = { alias: occurrence.alias, column };
      const found = analysis.links.find(start, (ref) => analysis.outputs.get(formatRef(ref)));
      if (found === undefined) {
        return whole(`${named}key column ${formatRef(start)} is linked to no output column${whereRead(occurrence.placed)}`);
      }
      const output = analysis.columns[found.found] as string;
      link.push(output);
      reasons.push(
        found.path.length === 1
          ? `${formatRef(start)} is output column ${formatName(output)}`
          : `${found.path.map(formatRef).join(' = ')}, output column ${formatName(output)}`,
      );
    }
    links.push(link);
  }
  return { table, how: 'rows', key, links, aliases, because: reasons.join('; ') };
}

/** Where a scan sits when that explains a missing link (inside a CTE or subquery that is not traced). */
function whereRead(placed: PlacedNode): string {
  for (let at: PlacedNode | undefined = placed; at !== undefined; at = at.parent) {
    const name = at.node['Subplan Name'];
    if (typeof name === 'string' && name.startsWith('CTE ')) return ` (it is read inside ${name}, whose columns are not traced)`;
    if (at.node['Node Type'] === 'Subquery Scan' && at.node.Alias !== WRAPPER) {
      return ` (it is read inside subquery ${at.node.Alias}, whose columns are not traced)`;
    }
  }
  return '';
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** How many columns a node outputs; an Append prints no output of its own, its members have the same width. */
function outputWidth(placed: PlacedNode): number {
  if (placed.node.Output !== undefined) return placed.node.Output.length;
  const member = placed.children.find((child) => child.node['Parent Relationship'] === 'Member');
  return member === undefined ? 0 : outputWidth(member);
}
