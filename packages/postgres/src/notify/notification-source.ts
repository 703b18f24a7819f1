/** What a feed needs from a connection that LISTENs: payloads in, markers out, news of its connection. */
export interface NotificationSource {
  /**
   * Starts listening; resolves once the first LISTEN is in place. Rejects with a
   * `FeedConnectionError` when it cannot be (the source is then closed), or a `FeedClosedError`
   * when closed first.
   */
  start(handlers: SourceHandlers): Promise<void>;
  /**
   * Sends a NOTIFY on the channel with the payload `payload()` returns, called right before the
   * statement goes to the database: a sync that starts after that call may follow a commit the
   * payload cannot cover, so callers stop sharing the marker then. While disconnected it waits
   * for the connection. It resolves once sent, or when the connection was lost first (the
   * `reconnected` that follows covers the marker); it rejects when sending cannot work at all
   * (closed, or a database that refuses queries).
   */
  notify(payload: () => string): Promise<void>;
  /** The last error connecting met, for a caller that stops waiting (undefined when none). */
  readonly lastError: unknown;
  /** The server's notification queue usage (0 to 1) last sampled, if the source samples it. */
  readonly queueUsage: number | undefined;
  /** Stops listening and connecting; leaves no timer or socket behind. */
  close(): Promise<void>;
}

export interface SourceHandlers {
  payload(text: string): void;
  /** The connection dropped or stopped answering: nothing arrives until `reconnected`. */
  lost(reason: string): void;
  /** LISTEN is in place again after a lost connection: notifications may have been missed. */
  reconnected(): void;
}
