import { describeError, type Logger, RateLimitedLogger } from '@tablecache/core';

/**
 * Where a feed reports what has no caller to go to (a lost connection, a failed reconnect, an
 * unreadable payload). Each report is one line; a storm of reports of one kind (a server that
 * stays down) is a few lines, each saying how many like it were held back.
 */
export class FeedReporter {
  readonly #log: RateLimitedLogger;
  readonly #onError: ((error: unknown) => void) | undefined;

  constructor(logger: Logger, onError: ((error: unknown) => void) | undefined) {
    this.#log = new RateLimitedLogger(logger);
    this.#onError = onError;
  }

  /**
   * An error: to `onError` when the caller gave one (every error, as it is), else one line at
   * the logger's error level (`line`, or the error's own message and code).
   */
  error(kind: string, error: unknown, line = describeError(error)): void {
    const onError = this.#onError;
    if (onError === undefined) safely(() => this.#log.log('error', kind, line));
    else safely(() => onError(error));
  }

  /** News worth a line (a reconnect that succeeded). */
  info(kind: string, line: string): void {
    safely(() => this.#log.log('info', kind, line));
  }

  /** Lets the next report of `kind` out at once (a storm is over). */
  reset(kind: string): void {
    this.#log.reset(kind);
  }
}

/** A logger or handler that throws has nowhere better to report to, and must not stop the feed (its reconnecting, say). */
function safely(report: () => void): void {
  try {
    report();
  } catch {
    // dropped: see above
  }
}
