/** What a feed needs from a connection that LISTENs: payloads in, markers out, news of reconnects. */
export interface NotificationSource {
  /** Starts listening; resolves once the first LISTEN is in place. */
  start(handlers: SourceHandlers): Promise<void>;
  /** Sends a payload on the channel (used for sync markers). Rejects while disconnected. */
  notify(payload: string): Promise<void>;
  /** Resolves when the source is connected (at once if it is). */
  connected(): Promise<void>;
  close(): Promise<void>;
}

export interface SourceHandlers {
  payload(text: string): void;
  /** LISTEN is in place again after a lost connection: notifications may have been missed. */
  reconnected(): void;
  error(error: unknown): void;
}
