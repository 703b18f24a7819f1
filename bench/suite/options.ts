/** What every benchmark of the suite is told on its command line and in its environment. */
export interface BenchOptions {
  readonly quick: boolean;
  /** Rows of the join: `--rows N`, else `quickRows` with `--quick`, else `fullRows` (1,000,000 unless given). */
  readonly rows: number;
  /** How long each rate is measured. */
  readonly measureMs: number;
  readonly databaseUrl: string;
  /** `--charts DIR`: where a benchmark that draws charts writes them as SVG; none without it. */
  readonly charts: string | undefined;
}

export function benchOptions(quickRows: number, fullRows = 1_000_000): BenchOptions {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const rowsArg = argv.indexOf('--rows');
  const chartsArg = argv.indexOf('--charts');
  const charts = chartsArg >= 0 ? argv[chartsArg + 1] : undefined;
  if (chartsArg >= 0 && (charts === undefined || charts.startsWith('--'))) throw new Error('--charts needs a directory');
  return {
    quick,
    rows: rowsArg >= 0 ? Number(argv[rowsArg + 1]) : quick ? quickRows : fullRows,
    measureMs: quick ? 300 : 1500,
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    charts,
  };
}

/** A progress line on stderr, apart from the table on stdout. */
export function progress(text: string): void {
  process.stderr.write(`… ${text}\n`);
}
