import type { WireError } from './wire-errors.js';

/**
 * The protocol between readers on other threads and the thread that owns a table, over
 * `BroadcastChannel`s named after the storage's channel id: requests go to `channel`, each
 * reader's responses to `channel/<reader>`. Bumped when a message changes shape.
 */
export const PROTOCOL = 'tablecache/shared-table@1';

/** What a reader asks of the owner when memory cannot answer. */
export type OwnerOperation = 'getRecords' | 'getFirstRecord' | 'sync';

export type ReaderMessage =
  | {
      readonly protocol: typeof PROTOCOL;
      readonly type: 'request';
      readonly reader: string;
      readonly id: number;
      readonly operation: OwnerOperation;
      /** The spec of a read; the owner's table validates it. */
      readonly spec?: unknown;
      /** A sync's deadline. */
      readonly timeoutMs?: number;
    }
  | { readonly protocol: typeof PROTOCOL; readonly type: 'cancel'; readonly reader: string; readonly id: number };

export type OwnerMessage =
  | { readonly protocol: typeof PROTOCOL; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly protocol: typeof PROTOCOL; readonly id: number; readonly ok: false; readonly error: WireError };

/** The slot the owner publishes its heartbeat in: a reader that sees it stand still stops trusting memory. */
export const HEARTBEAT_SLOT = 'heartbeat';

export function responseChannel(channel: string, reader: string): string {
  return `${channel}/${reader}`;
}

export function isReaderMessage(data: unknown): data is ReaderMessage {
  return typeof data === 'object' && data !== null && (data as { protocol?: unknown }).protocol === PROTOCOL;
}

export function isOwnerMessage(data: unknown): data is OwnerMessage {
  return typeof data === 'object' && data !== null && (data as { protocol?: unknown }).protocol === PROTOCOL && 'ok' in data;
}
