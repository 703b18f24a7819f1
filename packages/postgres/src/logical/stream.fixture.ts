import type { TablecacheError } from '@tablecache/core';
import type { PgoutputDecodeError } from './logical-errors.js';
import type { Lsn } from './lsn.js';
import type { PgoutputMessage } from './pgoutput.js';
import type { ReplicationHandlers, WalPosition } from './replication-stream.js';

export type StreamEvent =
  | { readonly kind: 'message'; readonly message: PgoutputMessage; readonly position: WalPosition }
  | { readonly kind: 'undecodable'; readonly error: PgoutputDecodeError }
  | { readonly kind: 'keepalive'; readonly walEnd: Lsn }
  | { readonly kind: 'lost'; readonly error: TablecacheError };

/** Handlers that keep what a stream reports, in order. */
export function recordStream() {
  const events: StreamEvent[] = [];
  const handlers: ReplicationHandlers = {
    message: (message, position) => events.push({ kind: 'message', message, position }),
    undecodable: (error) => events.push({ kind: 'undecodable', error }),
    keepalive: (walEnd) => events.push({ kind: 'keepalive', walEnd }),
    lost: (error) => events.push({ kind: 'lost', error }),
  };
  return {
    handlers,
    events,
    messages: (): PgoutputMessage[] => events.flatMap((event) => (event.kind === 'message' ? [event.message] : [])),
    losses: (): TablecacheError[] => events.flatMap((event) => (event.kind === 'lost' ? [event.error] : [])),
    keepalives: (): number => events.filter((event) => event.kind === 'keepalive').length,
  };
}

/** A slot name of its own per test (slots are per server, and tests share it). */
export function testSlotName(): string {
  return `tablecache_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
}
