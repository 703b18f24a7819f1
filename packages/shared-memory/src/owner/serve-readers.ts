import { BroadcastChannel } from 'node:worker_threads';
import { TableClosedError, type TableOwner } from '@tablecache/core';
import { isReaderMessage, type OwnerMessage, PROTOCOL, type ReaderMessage, responseChannel } from '../protocol/messages.js';
import { toWireError } from '../protocol/wire-errors.js';

/** How often the owner says it is alive; readers stop trusting memory when it stands still (see `ownerTimeoutMs`). */
export const HEARTBEAT_MS = 500;

/**
 * Answers what readers on other threads cannot answer from memory, through the owner's table,
 * and beats a heartbeat they watch. Returns how to stop. Nothing here keeps the process alive.
 */
export function serveReaders<R>(channel: string, owner: TableOwner<R>, heartbeat: () => void): () => void {
  const requests = new BroadcastChannel(channel);
  requests.unref();
  /** Requests being answered, by `reader/id`, so a reader can cancel one and closing can answer them all. */
  const answering = new Map<string, { readonly reader: string; readonly id: number; readonly controller: AbortController }>();
  requests.onmessage = (event: unknown) => {
    const message = (event as { data: unknown }).data;
    if (!isReaderMessage(message)) return;
    const key = `${message.reader}/${message.id}`;
    if (message.type === 'cancel') {
      answering.get(key)?.controller.abort(new DOMException('the reader stopped waiting', 'AbortError'));
      return;
    }
    const controller = new AbortController();
    answering.set(key, { reader: message.reader, id: message.id, controller });
    answer(owner, message, controller.signal)
      .then(
        (value) => respond(channel, message.reader, { protocol: PROTOCOL, id: message.id, ok: true, value }),
        (error: unknown) => respond(channel, message.reader, { protocol: PROTOCOL, id: message.id, ok: false, error: toWireError(error) }),
      )
      .finally(() => answering.delete(key))
      .catch(() => undefined); // a response that cannot be sent: the reader's deadline answers it
  };
  const beat = setInterval(heartbeat, HEARTBEAT_MS);
  beat.unref();
  return () => {
    clearInterval(beat);
    requests.close();
    // What the table still works on (a database read, say) is answered now: the table is closed.
    const closed = toWireError(new TableClosedError(owner.name));
    for (const { reader, id, controller } of answering.values()) {
      respond(channel, reader, { protocol: PROTOCOL, id, ok: false, error: closed });
      controller.abort(new TableClosedError(owner.name));
    }
    answering.clear();
  };
}

async function answer<R>(
  owner: TableOwner<R>,
  request: Extract<ReaderMessage, { type: 'request' }>,
  signal: AbortSignal,
): Promise<unknown> {
  switch (request.operation) {
    case 'getRecords':
      return owner.getRecords(request.spec, { signal });
    case 'getFirstRecord':
      return owner.getFirstRecord(request.spec, { signal });
    case 'sync':
      return owner.sync({ signal, ...(request.timeoutMs !== undefined && { timeoutMs: request.timeoutMs }) });
  }
}

/** A response goes on a channel of its own, closed at once: the message is delivered all the same, and nothing is held per reader. */
function respond(channel: string, reader: string, message: OwnerMessage): void {
  const responses = new BroadcastChannel(responseChannel(channel, reader));
  try {
    responses.postMessage(message);
  } catch (error) {
    // A value that cannot be cloned (a record holding a function, say) is an error the reader sees.
    responses.postMessage({ protocol: PROTOCOL, id: message.id, ok: false, error: toWireError(error) } satisfies OwnerMessage);
  } finally {
    responses.close();
  }
}
