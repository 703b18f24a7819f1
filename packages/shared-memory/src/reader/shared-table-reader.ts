import { BroadcastChannel } from 'node:worker_threads';
import {
  assertKey,
  type CallOptions,
  type Indexes,
  type IndexSpec,
  InvalidOptionsError,
  invalidatedBy,
  isPlainKey,
  isTimeout,
  type Key,
  KeyTypes,
  PRIMARY_KEY_INDEX,
  type PrimaryKeysSpec,
  type PublishedTableState,
  RecordNotFoundError,
  type StorageRecordsSpec,
  TableClosedError,
  type WaitOptions,
} from '@tablecache/core';
import { OwnerUnavailableError } from '../errors.js';
import {
  HEARTBEAT_SLOT,
  isOwnerMessage,
  type OwnerOperation,
  PROTOCOL,
  type ReaderMessage,
  responseChannel,
} from '../protocol/messages.js';
import { fromWireError } from '../protocol/wire-errors.js';
import type { SharedStorageView, StorageSnapshot } from '../shared-storage-view.js';

export interface SharedTableReaderOptions {
  /**
   * How long the owner's heartbeat may stand still before memory is no longer served and
   * requests reject with `OwnerUnavailableError` (the owner's thread may have exited without
   * closing the table). Default 5,000 ms.
   */
  readonly ownerTimeoutMs?: number;
  /** How long a read passed to the owner may take before it rejects with `OwnerUnavailableError`. Default 60,000 ms. */
  readonly requestTimeoutMs?: number;
}

/** Where a reader stands, as the owner's table published it. */
export interface SharedTableReaderStatus {
  readonly load: PublishedTableState['status']['load'];
  /** Whether memory may be served: loaded, the owner's feeds live, and the owner answering. */
  readonly servesMemory: boolean;
}

type Status = PublishedTableState['status'];
type Invalid<R> = (where: StorageRecordsSpec<R>) => boolean;

/** What a read section found besides records: the table closed, or state of the reader's to catch up with first. */
const CLOSED = Symbol('closed');
const STALE_STATE = Symbol('stale state');
type Outcome<T> = T | undefined | typeof CLOSED | typeof STALE_STATE;

/** A sync's own deadline travels to the owner; the request waits this much longer for its answer. */
const SYNC_ANSWER_MARGIN_MS = 5_000;

/**
 * A table read from another thread: the records, coverage and validity the owner's table
 * publishes in shared memory, read at one commit. What memory holds, covered and valid, is
 * answered here without messaging anyone; the rest (not covered, invalid, the owner's feed
 * away) is asked of the owner's table, which refreshes or asks the database, as its own reads
 * do. The reader follows the owner's freshness rules: after the owner's `sync()` resolves, a
 * read that starts later sees what it committed.
 */
export class SharedTableReader<R, S extends IndexSpec, K extends Key = Key> {
  readonly name: string;
  readonly #view: SharedStorageView<R>;
  readonly #indexes: Indexes<R, S, K> & { restoreCoverage(loaded: readonly S[]): void };
  readonly #channel: string;
  readonly #rangeIndexes: ReadonlySet<string>;
  readonly #ownerTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #id = crypto.randomUUID();
  #closed = false;

  /** The published versions the reader's coverage and validity test come from. */
  #coverageVersion = -1;
  #validityVersion = -1;
  #keyTypesVersion = -1;
  readonly #keyTypes = new KeyTypes();
  /** Slots of the owner's state it withdrew (shared memory was full): until published again, memory is not served. */
  readonly #withdrawn = new Set<string>();
  #invalid: Invalid<R> | undefined;

  /** The owner's heartbeat as last seen, and when it last moved. */
  #heartbeat = -1;
  #heartbeatMovedAt = performance.now();
  #ownerSilent = false;
  readonly #watchdog: ReturnType<typeof setInterval>;

  readonly #responses: BroadcastChannel;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
  #nextRequest = 0;

  /** The key `#peekAt` reads: a field, so a peek allocates no closure. */
  #peekKey: K | undefined;
  readonly #peekAt = (at: StorageSnapshot<R>): Outcome<R> => {
    const status = this.#servable(at);
    if (status !== true) return status;
    const key = this.#peekKey as K;
    const record = at.get(key);
    if (record === undefined) return at.publishedVersion('keyTypes') === this.#keyTypesVersion ? undefined : STALE_STATE;
    if (at.publishedVersion('validity') !== this.#validityVersion) return STALE_STATE;
    return this.#invalid === undefined || !this.#invalid({ kind: 'keys', index: PRIMARY_KEY_INDEX, keys: [key] }) ? record : undefined;
  };

  constructor(
    name: string,
    view: SharedStorageView<R>,
    channel: string,
    indexes: Indexes<R, S, K>,
    options: SharedTableReaderOptions = {},
  ) {
    const restore = indexes.restoreCoverage;
    if (typeof restore !== 'function') {
      throw new InvalidOptionsError(
        'indexes read from another thread must have restoreCoverage (to follow what the owner loaded); the built-in indexes do',
      );
    }
    const ownerTimeoutMs = options.ownerTimeoutMs ?? 5_000;
    const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    for (const [option, value] of [
      ['ownerTimeoutMs', ownerTimeoutMs],
      ['requestTimeoutMs', requestTimeoutMs],
    ] as const) {
      if (!isTimeout(value)) throw new InvalidOptionsError(`${option} must be a positive number of milliseconds; got ${String(value)}`);
    }
    this.name = name;
    this.#view = view;
    this.#channel = channel;
    this.#indexes = indexes as Indexes<R, S, K> & { restoreCoverage(loaded: readonly S[]): void };
    this.#rangeIndexes = new Set(
      Object.entries(indexes.storageIndexes)
        .filter(([, definition]) => definition.kind === 'range')
        .map(([index]) => index),
    );
    this.#ownerTimeoutMs = ownerTimeoutMs;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#responses = new BroadcastChannel(responseChannel(channel, this.#id));
    this.#responses.unref();
    this.#responses.onmessage = (event: unknown) => this.#receive((event as { data: unknown }).data);
    this.#watchdog = setInterval(() => this.#watchOwner(), Math.min(1_000, ownerTimeoutMs / 2));
    this.#watchdog.unref();
    this.#watchOwner();
  }

  /** What the owner's table published, and whether this reader serves memory now. */
  get status(): SharedTableReaderStatus {
    const status = this.#view.read((at) => at.published('status') as Status | undefined);
    const load = this.#closed ? 'closed' : (status?.load ?? 'idle');
    return { load, servesMemory: load === 'loaded' && status?.trusted === true && !this.#ownerSilent };
  }

  /** As the owner's `peek`: the record if memory holds it, valid, now; undefined says nothing about the database. */
  peek(primaryKey: K): R | undefined {
    this.#assertOpen();
    if (!isPlainKey(primaryKey)) assertKey(primaryKey, 'the key given to peek');
    this.#peekKey = primaryKey;
    for (;;) {
      const outcome = this.#view.read(this.#peekAt);
      if (outcome === STALE_STATE) this.#catchUp();
      else {
        const record = this.#settled(outcome);
        // A miss may be a key that could never match: refused, as by the owner's table.
        if (record === undefined) this.#keyTypes.checkPrimaryKey(primaryKey);
        return record;
      }
    }
  }

  /** As the owner's `getRecordsSync`: the records if memory can answer now (covered and valid), else undefined. */
  getRecordsSync(spec: S | PrimaryKeysSpec<K>): R[] | undefined {
    this.#assertOpen();
    this.#indexes.validateSpec(spec);
    for (;;) {
      const outcome = this.#view.read((at) => this.#readAt(at, spec));
      if (outcome === STALE_STATE) this.#catchUp();
      else return this.#settled(outcome);
    }
  }

  /** The records of `spec`: from shared memory when covered and valid, else through the owner's table. */
  async getRecords(spec: S | PrimaryKeysSpec<K>, options: CallOptions = {}): Promise<R[]> {
    const now = this.getRecordsSync(spec);
    if (now !== undefined) return now;
    return (await this.#ask('getRecords', { spec }, options.signal)) as R[];
  }

  /** The first record of `spec`; rejects with `RecordNotFoundError` when there is none. */
  async getFirstRecord(spec: S | PrimaryKeysSpec<K>, options: CallOptions = {}): Promise<R> {
    const now = this.getRecordsSync(spec);
    if (now !== undefined) {
      if (now.length > 0) return now[0] as R;
      throw new RecordNotFoundError(spec);
    }
    return (await this.#ask('getFirstRecord', { spec }, options.signal)) as R;
  }

  /**
   * The owner's `sync()`, waited for here: once it resolves, every change committed before the
   * call is visible to this reader's reads.
   */
  async sync(options: WaitOptions = {}): Promise<void> {
    const { timeoutMs } = options;
    if (timeoutMs !== undefined && !isTimeout(timeoutMs)) {
      throw new InvalidOptionsError(`timeoutMs must be a positive number of milliseconds a timer can wait; got ${String(timeoutMs)}`);
    }
    await this.#ask('sync', timeoutMs === undefined ? {} : { timeoutMs }, options.signal);
  }

  /** Stops reading: pending requests reject with `TableClosedError`; nothing is left behind. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    this.#rejectPending(new TableClosedError(this.name));
    this.#responses.close();
  }

  /** One read section: the state it needs is current, the spec covered and valid; then the records. */
  #readAt(at: StorageSnapshot<R>, spec: S | PrimaryKeysSpec<K>): Outcome<R[]> {
    const status = this.#servable(at);
    if (status !== true) return status;
    if (
      at.publishedVersion('coverage') !== this.#coverageVersion ||
      at.publishedVersion('validity') !== this.#validityVersion ||
      at.publishedVersion('keyTypes') !== this.#keyTypesVersion
    ) {
      return STALE_STATE;
    }
    if (!this.#indexes.covers(spec)) return undefined;
    const where = this.#indexes.storageRecordsSpec(spec);
    this.#keyTypes.checkSpec(where);
    if (this.#invalid?.(where) === true) return undefined;
    return at.getRecords(where);
  }

  /** True when memory may answer at this commit; otherwise what to answer instead. */
  #servable(at: StorageSnapshot<R>): true | undefined | typeof CLOSED {
    const status = at.published('status') as Status | undefined;
    if (status === undefined) return undefined;
    if (status.load === 'closed') return CLOSED;
    return status.load === 'loaded' && status.trusted && !this.#ownerSilent && this.#withdrawn.size === 0 ? true : undefined;
  }

  #settled<T>(outcome: T | undefined | typeof CLOSED): T | undefined {
    if (outcome === CLOSED) throw new TableClosedError(this.name);
    return outcome;
  }

  /**
   * Takes the coverage and validity the owner published, in a read section of their own (a
   * coverage restored from a torn read would be wrong): the next read section checks their
   * versions are still current.
   */
  #catchUp(): void {
    const state = this.#view.read((at) => {
      const coverageVersion = at.publishedVersion('coverage');
      const validityVersion = at.publishedVersion('validity');
      const keyTypesVersion = at.publishedVersion('keyTypes');
      return {
        keyTypesVersion,
        keyTypes:
          keyTypesVersion === this.#keyTypesVersion ? undefined : (at.published('keyTypes') as PublishedTableState['keyTypes'] | undefined),
        coverageVersion,
        coverage: coverageVersion === this.#coverageVersion ? undefined : (at.published('coverage') as readonly S[] | undefined),
        validityVersion,
        validity:
          validityVersion === this.#validityVersion ? undefined : (at.published('validity') as PublishedTableState['validity'] | undefined),
      };
    });
    if (state.coverageVersion !== this.#coverageVersion) {
      this.#noteWithdrawn('coverage', state.coverageVersion, state.coverage);
      this.#indexes.restoreCoverage(state.coverage ?? []);
      this.#coverageVersion = state.coverageVersion;
    }
    if (state.validityVersion !== this.#validityVersion) {
      this.#noteWithdrawn('validity', state.validityVersion, state.validity);
      this.#invalid = invalidatedBy<R>(state.validity ?? [], this.#rangeIndexes);
      this.#validityVersion = state.validityVersion;
    }
    if (state.keyTypesVersion !== this.#keyTypesVersion) {
      this.#noteWithdrawn('keyTypes', state.keyTypesVersion, state.keyTypes);
      this.#keyTypes.restore(state.keyTypes ?? []);
      this.#keyTypesVersion = state.keyTypesVersion;
    }
  }

  /** A slot published (version > 0) that holds nothing was withdrawn by the owner. */
  #noteWithdrawn(slot: string, version: number, value: unknown): void {
    if (version === 0 || value !== undefined) this.#withdrawn.delete(slot);
    else this.#withdrawn.add(slot);
  }

  /** Asks the owner's table; rejects on the reader's deadline, its signal, or the table closing. */
  #ask(operation: OwnerOperation, fields: { spec?: unknown; timeoutMs?: number }, signal: AbortSignal | undefined): Promise<unknown> {
    this.#assertOpen();
    signal?.throwIfAborted();
    if (this.status.load === 'closed') return Promise.reject(new TableClosedError(this.name));
    if (this.#ownerSilent) return Promise.reject(this.#silentError());
    const id = this.#nextRequest++;
    const deadlineMs = operation === 'sync' ? (fields.timeoutMs ?? 30_000) + SYNC_ANSWER_MARGIN_MS : this.#requestTimeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
        if (this.#pending.size === 0) this.#responses.unref();
      };
      const timer = setTimeout(() => {
        settle();
        this.#send({ protocol: PROTOCOL, type: 'cancel', reader: this.#id, id });
        reject(new OwnerUnavailableError(this.name, `no answer to ${operation} within ${deadlineMs} ms`));
      }, deadlineMs);
      const onAbort = () => {
        settle();
        this.#send({ protocol: PROTOCOL, type: 'cancel', reader: this.#id, id });
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      this.#responses.ref(); // an answer is awaited: keep the thread alive for it
      this.#send({ protocol: PROTOCOL, type: 'request', reader: this.#id, id, operation, ...fields });
    });
  }

  #send(message: ReaderMessage): void {
    const requests = new BroadcastChannel(this.#channel);
    try {
      requests.postMessage(message);
    } finally {
      requests.close();
    }
  }

  #receive(data: unknown): void {
    if (!isOwnerMessage(data)) return;
    const pending = this.#pending.get(data.id);
    if (pending === undefined) return; // cancelled, or answered after its deadline
    if (data.ok) pending.resolve(data.value);
    else pending.reject(fromWireError(data.error));
  }

  /**
   * Watches the owner's heartbeat. Standing still longer than `ownerTimeoutMs`: memory is no
   * longer served and waiting requests reject, since the owner may be gone and nothing would
   * keep memory fresh. A closed table rejects what waits on it.
   */
  #watchOwner(): void {
    const { heartbeat, load } = this.#view.read((at) => ({
      heartbeat: at.publishedVersion(HEARTBEAT_SLOT),
      load: (at.published('status') as Status | undefined)?.load,
    }));
    const now = performance.now();
    if (heartbeat !== this.#heartbeat) {
      this.#heartbeat = heartbeat;
      this.#heartbeatMovedAt = now;
      this.#ownerSilent = false;
    } else if (now - this.#heartbeatMovedAt > this.#ownerTimeoutMs && !this.#ownerSilent) {
      this.#ownerSilent = true;
      this.#rejectPending(this.#silentError());
    }
    if (load === 'closed') this.#rejectPending(new TableClosedError(this.name));
  }

  #silentError(): OwnerUnavailableError {
    return new OwnerUnavailableError(this.name, `its heartbeat stood still for more than ${this.#ownerTimeoutMs} ms`);
  }

  #rejectPending(error: Error): void {
    for (const pending of [...this.#pending.values()]) pending.reject(error);
  }

  #assertOpen(): void {
    if (this.#closed) throw new TableClosedError(this.name);
  }
}
