// Test support: the ways an application parses rows, for tests that read through them. Not part of the build.
import { createRequire } from 'node:module';
import pg from 'pg';

export type Parsers = Readonly<Record<number, (text: string) => unknown>>;

/** pg type parsers over the defaults, for pools given their own `types`. */
export function pgTypes(overrides: Parsers): pg.CustomTypesConfig {
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      overrides[oid] ?? pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/**
 * Another copy of pg, as an application that bundles its own would have: a separate module
 * instance, with its own Pool, Client and (a pnpm override in pnpm-workspace.yaml) global parsers.
 */
export const pgSecondCopy = createRequire(import.meta.url)('pg-second-copy') as typeof pg;

/** Sets global parsers of a copy of pg; returns the function that restores them. */
export function setGlobalParsers(copy: typeof pg, parsers: Parsers): () => void {
  const previous = Object.keys(parsers).map((oid) => [Number(oid), copy.types.getTypeParser(Number(oid), 'text')] as const);
  for (const [oid, parser] of Object.entries(parsers)) copy.types.setTypeParser(Number(oid), parser);
  return () => {
    for (const [oid, parser] of previous) copy.types.setTypeParser(oid, parser);
  };
}
