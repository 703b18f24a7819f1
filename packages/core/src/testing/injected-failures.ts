import { DatabaseError } from '../errors/errors.js';

/**
 * One failure at a time, injected into a database's next query, and the rule that only that
 * failure, only once, may surface from the table: anything else rejecting is a bug.
 */
export class InjectedFailures {
  readonly error = new Error('injected failure');
  readonly #db: { failNext(error: unknown, afterRows?: number): void };
  #armed = false;

  constructor(db: { failNext(error: unknown, afterRows?: number): void }) {
    this.#db = db;
  }

  /** Whether an injected failure has not surfaced yet. */
  get armed(): boolean {
    return this.#armed;
  }

  /** Makes the next query fail after `afterRows` rows, unless a failure is still armed. */
  arm(afterRows: number): void {
    if (this.#armed) return;
    this.#db.failNext(this.error, afterRows);
    this.#armed = true;
  }

  /** The result of `work`, or undefined when it rejected with the armed failure; any other rejection is rethrown. */
  async tolerate<T>(work: Promise<T>): Promise<T | undefined> {
    try {
      return await work;
    } catch (error) {
      // The table passes the database's failure on as the cause of a DatabaseError.
      const injected = error === this.error || (error instanceof DatabaseError && error.cause === this.error);
      if (!injected || !this.#armed) throw error;
      this.#armed = false;
      return undefined;
    }
  }
}
