import * as core from '@tablecache/core';
import { OwnerUnavailableError } from '../errors.js';

/** An error as it crosses threads: structured clone keeps only `Error`, so the class goes by name. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  /** The error's own fields (`table`, `spec`, `key`, …) that can be cloned. */
  readonly fields: Readonly<Record<string, unknown>>;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Every typed error a reader may receive, by name. */
const CLASSES: ReadonlyMap<string, ErrorClass> = new Map(
  [
    ...(Object.values(core) as unknown[]).filter(
      (value): value is ErrorClass => typeof value === 'function' && value.prototype instanceof Error,
    ),
    core.TablecacheError,
    OwnerUnavailableError,
  ].map((errorClass) => [errorClass.name, errorClass]),
);

export function toWireError(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(error)) {
    if (field === 'name' || field === 'message' || field === 'stack') continue;
    try {
      fields[field] = structuredClone(value);
    } catch {
      fields[field] = core.describeValue(value);
    }
  }
  if (error.cause !== undefined) fields.cause = core.describeError(error.cause);
  return { name: error.name, message: error.message, fields };
}

/** The error again, of its own class (so `instanceof TableClosedError` holds in the reader's thread). */
export function fromWireError(wire: WireError): Error {
  const errorClass = CLASSES.get(wire.name) ?? Error;
  const error = Object.create(errorClass.prototype) as Error;
  Object.assign(error, wire.fields);
  Object.defineProperties(error, {
    name: { value: wire.name, writable: true, configurable: true },
    message: { value: wire.message, writable: true, configurable: true },
    stack: { value: `${wire.name}: ${wire.message}\n    (raised in the thread that owns the table)`, writable: true, configurable: true },
  });
  return error;
}
