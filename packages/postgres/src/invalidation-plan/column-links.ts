import { formatName } from '@tablecache/core';
import { type ColumnRef, columnEqualities, parseColumnRef } from './plan-expressions.js';
import { allNodes, type PlacedNode, type PlanNode } from './plan-tree.js';

/** Conditions a join node checks to pair rows (for outer joins they do not filter the preserved side). */
const JOIN_QUALS = ['Hash Cond', 'Merge Cond', 'Join Filter'] as const;
/** Conditions every row a node emits satisfies. */
const ROW_CONDITIONS = ['Filter', 'Index Cond', 'Recheck Cond'] as const;

const refKey = (ref: ColumnRef) => JSON.stringify([ref.alias, ref.column]);
export const formatRef = (ref: ColumnRef) => `${formatName(ref.alias)}.${formatName(ref.column)}`;

/**
 * Which columns hold which values, as directed links: `a → b` means "whenever a row of `a`'s
 * relation takes part in a record (or, for an anti join, keeps one out), `b` holds the same value
 * in that record". Inner joins and filters link both ways; an outer join's condition links only
 * from its nullable side (a preserved row may have no match, and then the other side is NULL); a
 * semi or anti join's links only from the inner side; a full join's not at all.
 */
export class ColumnLinks {
  readonly #links = new Map<string, { readonly ref: ColumnRef; readonly to: ColumnRef[] }>();

  link(from: ColumnRef, to: ColumnRef): void {
    const key = refKey(from);
    let entry = this.#links.get(key);
    if (entry === undefined) {
      entry = { ref: from, to: [] };
      this.#links.set(key, entry);
    }
    if (!entry.to.some((known) => refKey(known) === refKey(to))) entry.to.push(to);
  }

  /**
   * The nearest column (fewest links) reachable from `start` for which `accept` answers, with the
   * path to it (start first), or undefined.
   */
  find<T>(
    start: ColumnRef,
    accept: (ref: ColumnRef) => T | undefined,
  ): { readonly found: T; readonly path: readonly ColumnRef[] } | undefined {
    const seen = new Set([refKey(start)]);
    let frontier: (readonly ColumnRef[])[] = [[start]];
    while (frontier.length > 0) {
      const next: (readonly ColumnRef[])[] = [];
      for (const path of frontier) {
        const last = path[path.length - 1] as ColumnRef;
        const found = accept(last);
        if (found !== undefined) return { found, path };
        for (const to of this.#links.get(refKey(last))?.to ?? []) {
          if (seen.has(refKey(to))) continue;
          seen.add(refKey(to));
          next.push([...path, to]);
        }
      }
      frontier = next;
    }
    return undefined;
  }
}

/** The aliases whose rows, when they take part in a record, satisfy a join node's pairing condition. */
function matchedSide(placed: PlacedNode): ReadonlySet<string> {
  const side = (relationship: string) =>
    placed.children.find((child) => child.node['Parent Relationship'] === relationship)?.aliases ?? new Set();
  switch (placed.node['Join Type']) {
    case 'Inner':
      return placed.aliases;
    case 'Left':
    case 'Semi':
    case 'Anti':
      return side('Inner');
    case 'Right':
    case 'Right Semi':
    case 'Right Anti':
      return side('Outer');
    default:
      // Full joins, and whatever a later version adds: no condition holds for either side.
      return new Set();
  }
}

/** Whether rows leaving `child` reach `parent`'s output without being NULL-extended or dropped from the output. */
function keepsRows(child: PlacedNode, parent: PlacedNode): boolean {
  const relationship = child.node['Parent Relationship'];
  if (relationship === 'SubPlan' || relationship === 'InitPlan') return false;
  switch (parent.node['Join Type']) {
    case undefined:
    case 'Inner':
      return true;
    case 'Left':
    case 'Semi':
    case 'Anti':
      return relationship === 'Outer';
    case 'Right':
    case 'Right Semi':
    case 'Right Anti':
      return relationship === 'Inner';
    default:
      return false;
  }
}

/**
 * Whether a condition checked at `placed` against a value from `alias` outside it (a nested
 * loop's parameter) holds for every record `alias`'s row takes part in: only if the rows the
 * condition passed are never NULL-extended on their way up to the join that supplies `alias`.
 */
function holdsForOuterRows(placed: PlacedNode, alias: string): boolean {
  let child = placed;
  for (let parent = placed.parent; parent !== undefined; child = parent, parent = parent.parent) {
    if (!keepsRows(child, parent)) return false;
    if (parent.aliases.has(alias)) return true;
  }
  return false;
}

/** The links every equality condition of the plan gives between base-relation columns. */
export function collectLinks(root: PlacedNode, baseAliases: ReadonlySet<string>): ColumnLinks {
  const links = new ColumnLinks();
  for (const placed of allNodes(root)) {
    const { node } = placed;
    // A bitmap index scan's condition is repeated in its heap scan's Recheck Cond, where the alias is.
    if (node['Node Type'] === 'Bitmap Index Scan') continue;
    const conditions: { readonly text: string; readonly holdsFor: ReadonlySet<string>; readonly outerRows: boolean }[] = [];
    for (const field of JOIN_QUALS) {
      const text = node[field];
      if (typeof text !== 'string') continue;
      const isInner = node['Join Type'] === undefined || node['Join Type'] === 'Inner';
      conditions.push({ text, holdsFor: node['Join Type'] === undefined ? placed.aliases : matchedSide(placed), outerRows: isInner });
    }
    for (const field of ROW_CONDITIONS) {
      const text = node[field];
      if (typeof text === 'string') conditions.push({ text, holdsFor: placed.aliases, outerRows: true });
    }
    for (const { text, holdsFor, outerRows } of conditions) {
      for (const [left, right] of columnEqualities(text)) {
        if (!baseAliases.has(left.alias) || !baseAliases.has(right.alias)) continue;
        for (const [from, to] of [
          [left, right],
          [right, left],
        ] as const) {
          if (holdsFor.has(from.alias)) links.link(from, to);
          else if (outerRows && !placed.aliases.has(from.alias) && holdsFor.has(to.alias) && holdsForOuterRows(placed, from.alias)) {
            links.link(from, to);
          }
        }
      }
    }
  }
  return links;
}

/** Nodes under which one row's change can alter other records, with why. */
const ROW_COUPLING: Readonly<Record<string, string>> = {
  Limit: 'it is read under LIMIT/OFFSET, where one row can push others into or out of the result',
  WindowAgg: 'it is read under a window function, whose values depend on other rows',
  'Recursive Union': 'it is read by a recursive query, where one row can reach records of others',
  Unique: 'it is read under DISTINCT, where (with DISTINCT ON) one row can replace another',
};

/** For each alias read under a node that couples rows, why it cannot be row-precise (the outermost such node). */
export function coupledAliases(root: PlacedNode): ReadonlyMap<string, string> {
  const reasons = new Map<string, string>();
  for (const placed of allNodes(root)) {
    const reason = ROW_COUPLING[placed.node['Node Type']];
    if (reason === undefined) continue;
    for (const alias of placed.aliases) if (!reasons.has(alias)) reasons.set(alias, reason);
  }
  return reasons;
}

/**
 * The base-relation columns output position `position` of `placed` holds, in every record.
 * EXPLAIN prints an upper node's output through its input's expressions, so one node's text
 * usually names the base column; an Append (no output of its own) holds any member's, and the
 * subquery scan of `wrapper` (the `SELECT *` around the user's query) holds its input's column
 * at the same position. Any other subquery or CTE scan is not traced: the names of its columns
 * are not in the plan, so matching them would be a guess.
 */
export function outputColumns(placed: PlacedNode, position: number, wrapper: string, baseAliases: ReadonlySet<string>): ColumnRef[] {
  const { node } = placed;
  if (node.Output === undefined && (node['Node Type'] === 'Append' || node['Node Type'] === 'Merge Append')) {
    return placed.children
      .filter((child) => child.node['Parent Relationship'] === 'Member')
      .flatMap((child) => outputColumns(child, position, wrapper, baseAliases));
  }
  const text = node.Output?.[position];
  const ref = text === undefined ? undefined : parseColumnRef(text);
  if (ref === undefined) return [];
  if (baseAliases.has(ref.alias)) return [ref];
  if (ref.alias === wrapper) {
    const scan = findWrapperScan(placed, wrapper);
    const input = scan?.children.find((child) => child.node['Parent Relationship'] === 'Subquery');
    return input === undefined ? [] : outputColumns(input, position, wrapper, baseAliases);
  }
  return [];
}

function findWrapperScan(placed: PlacedNode, wrapper: string): PlacedNode | undefined {
  for (const candidate of allNodes(placed)) {
    if (candidate.node['Node Type'] === 'Subquery Scan' && candidate.node.Alias === wrapper) return candidate;
  }
  return undefined;
}

export type { PlanNode };
