import { describeError, TablecacheError } from '@tablecache/core';

/** How errors and reports name a feed. */
export function feedName(channel: string): string {
  return `feed on channel '${channel}'`;
}

/**
 * The feed cannot reach its database: its first connection failed (the feed is then closed), a
 * connection was lost (it is being retried), or PGlite refused a query. The driver's error is
 * the `cause`.
 */
export class FeedConnectionError extends TablecacheError {
  override name = 'FeedConnectionError';
  constructor(
    readonly channel: string,
    /** What failed, e.g. 'could not connect within 10000 ms'. */
    problem: string,
    cause: unknown,
    /** What happens next, e.g. 'retrying'. */
    next?: string,
  ) {
    super(
      `listener on channel '${channel}' ${problem}${cause === undefined ? '' : `: ${describeError(cause)}`}${next === undefined ? '' : ` (${next})`}`,
      { cause },
    );
  }
}
