import { InvalidQueryError } from '@tablecache/core';

/** One node of `EXPLAIN (VERBOSE, FORMAT JSON)`, with the fields the invalidation plan reads. */
export interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Join Type'?: string;
  /** How this node feeds its parent: Outer, Inner, Member, Subquery, SubPlan, InitPlan. */
  readonly 'Parent Relationship'?: string;
  readonly 'Relation Name'?: string;
  readonly Schema?: string;
  readonly Alias?: string;
  readonly 'Function Name'?: string;
  readonly 'CTE Name'?: string;
  readonly 'Subplan Name'?: string;
  readonly Output?: readonly string[];
  readonly Plans?: readonly PlanNode[];
  readonly [condition: string]: unknown;
}

/** A node with what the analysis needs around it. */
export interface PlacedNode {
  readonly node: PlanNode;
  readonly parent: PlacedNode | undefined;
  /** The aliases of base-relation scans at or under this node (subplans included). */
  readonly aliases: ReadonlySet<string>;
  readonly children: readonly PlacedNode[];
}

/** The plan's root node out of EXPLAIN's single row (pg and PGlite parse the json; a custom parser may leave text). */
export function planRoot(rows: readonly Record<string, unknown>[]): PlanNode {
  let value: unknown = rows[0]?.['QUERY PLAN'];
  if (typeof value === 'string') value = JSON.parse(value);
  const plan = Array.isArray(value) ? (value[0] as { Plan?: unknown } | undefined)?.Plan : undefined;
  if (typeof plan !== 'object' || plan === null || typeof (plan as PlanNode)['Node Type'] !== 'string') {
    throw new InvalidQueryError(rows, 'EXPLAIN (FORMAT JSON) returned no plan');
  }
  return plan as PlanNode;
}

/** Whether the node scans a base relation (a table, a partition, a foreign or materialized one). */
export const scansRelation = (node: PlanNode): node is PlanNode & { 'Relation Name': string; Schema: string; Alias: string } =>
  typeof node['Relation Name'] === 'string' && typeof node.Schema === 'string' && typeof node.Alias === 'string';

/** The tree with parents and the scan aliases under each node. */
export function placeNodes(root: PlanNode): PlacedNode {
  const place = (node: PlanNode, parent: PlacedNode | undefined): PlacedNode => {
    const aliases = new Set<string>();
    const children: PlacedNode[] = [];
    const placed: PlacedNode = { node, parent, aliases, children };
    if (scansRelation(node)) aliases.add(node.Alias);
    for (const child of node.Plans ?? []) {
      const placedChild = place(child, placed);
      children.push(placedChild);
      for (const alias of placedChild.aliases) aliases.add(alias);
    }
    return placed;
  };
  return place(root, undefined);
}

/** Every node, parents before children. */
export function* allNodes(root: PlacedNode): Generator<PlacedNode> {
  yield root;
  for (const child of root.children) yield* allNodes(child);
}
