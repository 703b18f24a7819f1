/**
 * Where tablecache reports what happens: the shape console and pino share. Each call gets one
 * concise line (what happened, to which table or channel, and the cause's message and code);
 * pass `console`, a pino logger, or anything with these four methods.
 */
export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

/** The default: errors, warnings and news on the console, one line each; debug lines dropped. */
export const consoleLogger: Logger = {
  error: (message) => console.error(`tablecache: ${message}`),
  warn: (message) => console.warn(`tablecache: ${message}`),
  info: (message) => console.info(`tablecache: ${message}`),
  debug: () => {},
};

/**
 * An error in one line: its message, its code (pg's SQLSTATE or Node's errno name) and, for an
 * error that wraps another, the cause's. Never the object's dump (a pg error carries its client).
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (typeof current !== 'object') {
      parts.push(String(current));
      break;
    }
    const { message, code } = current as { message?: unknown; code?: unknown };
    const text = typeof message === 'string' && message !== '' ? message : (current.constructor?.name ?? 'error');
    parts.push(typeof code === 'string' || typeof code === 'number' ? `${text} (${code})` : text);
    // AggregateError (e.g. a connection refused on both ::1 and 127.0.0.1) says most in its first error.
    const next = (current as { cause?: unknown }).cause ?? (current as { errors?: unknown[] }).errors?.[0];
    if (next === current) break;
    current = next;
  }
  const unique = parts.filter((part, i) => !parts.slice(0, i).some((earlier) => earlier.includes(part)));
  return unique.join(': caused by ');
}

/**
 * Lets through the first report of each kind at once, then at most one per `intervalMs`, saying
 * how many were held back: a reconnect storm is a few lines, not thousands.
 */
export class RateLimitedLogger {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #kinds = new Map<string, { last: number; suppressed: number }>();

  constructor(logger: Logger, intervalMs = 10_000) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  /** Logs `message` at `level` unless a report of `kind` went out less than the interval ago. */
  log(level: keyof Logger, kind: string, message: string): void {
    const now = Date.now();
    const seen = this.#kinds.get(kind);
    if (seen !== undefined && now - seen.last < this.#intervalMs) {
      seen.suppressed++;
      return;
    }
    const held = seen !== undefined && seen.suppressed > 0 ? ` (${seen.suppressed} similar reports held back)` : '';
    this.#kinds.set(kind, { last: now, suppressed: 0 });
    this.#logger[level](message + held);
  }

  /** Forgets `kind`, so its next report goes out at once (e.g. after a reconnect succeeded). */
  reset(kind: string): void {
    this.#kinds.delete(kind);
  }
}

/** Checks a `logger` option: an object with the four methods. */
export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['error', 'warn', 'info', 'debug'].every((level) => typeof candidate[level] === 'function');
}
