export {
  type Change,
  type ChangeFeed,
  type ChangeFeedEvent,
  type ChangeOp,
  type EncodedChange,
  isEncodedChange,
  type KeyColumn,
  type KeyDecoder,
  type PrepareRequest,
  type Row,
  type SourceTable,
  type WaitOptions,
} from './change-feed/change-feed.js';
export {
  describePlan,
  formatName,
  formatSourceTable,
  type InvalidationPlan,
  type OpaqueSource,
  type RowPreciseSource,
  type SourcePlan,
  type WholeTableSource,
} from './change-feed/invalidation-plan.js';
export { parseSourceTableName } from './change-feed/source-table-name.js';
export type { DbAccess } from './db-access/db-access.js';
export {
  AlreadyLoadedError,
  DatabaseError,
  DuplicateKeyError,
  describeValue,
  FeedClosedError,
  FeedDisconnectedError,
  InvalidKeyError,
  InvalidOptionsError,
  InvalidQueryError,
  KeyTypeError,
  MalformedSpecError,
  NotLoadedError,
  RecordNotFoundError,
  SyncTimeoutError,
  TableClosedError,
  TablecacheError,
  UndefinedKeyError,
  UnknownIndexError,
  UnmatchableChangeError,
} from './errors/errors.js';
export type { Adjustment, Indexes, IndexSpec, PrimaryKeysSpec } from './indexes/indexes.js';
export {
  type AllRecordsSpec,
  type HashIndexDefinition,
  NamedIndexes,
  type NamedIndexesOptions,
  type NamedIndexesSpec,
  type RangeIndexDefinition,
} from './indexes/named-indexes.js';
export { PrimaryKeyIndexes, type PrimaryKeyIndexesOptions, type PrimaryKeySpec } from './indexes/primary-key-indexes.js';
export { RangeIndexes, type RangeIndexesOptions, type RangeIndexesSpec, type Score } from './indexes/range-indexes.js';
export { FeedMetrics, type FeedMetricsSource } from './instrumentation/feed-metrics.js';
export { INSTRUMENTATION_SCOPE, type MetricDescription, resolveMeter, TABLECACHE_METRICS } from './instrumentation/instruments.js';
export type {
  CounterLike,
  HistogramLike,
  InstrumentOptionsLike,
  MeterLike,
  MeterProviderLike,
  MetricAttributes,
  ObservableLike,
  ObservableResultLike,
  SpanLike,
  TracerLike,
} from './instrumentation/opentelemetry-shapes.js';
export { traceWithOpenTelemetry } from './instrumentation/opentelemetry-spans.js';
export { TRACING_CHANNELS, type TraceContext, type TracedOperation } from './instrumentation/tracing.js';
export { Interval, mergeIntervals } from './interval/interval.js';
export { assertKey, compareKeys, type HashKey, hashKey, isPlainKey, type Key, type KeyPart, keyType } from './key/key.js';
export { consoleLogger, describeError, isLogger, type Logger, RateLimitedLogger } from './logging/logger.js';
export type { Query, RawQuery } from './query/query.js';
export {
  isSharedStorageTable,
  type PublishedSlot,
  type PublishedTableState,
  type SharedStorageTable,
  type TableOwner,
} from './storage/shared-storage.js';
export {
  PRIMARY_KEY_INDEX,
  type ScratchSpace,
  type StorageIndexDefinition,
  type StorageLayout,
  type StorageRecordsSpec,
  type StorageTable,
} from './storage/storage-table.js';
export {
  CachedTable,
  type CachedTableOptions,
  type CachedTableStats,
  type CachedTableStatus,
  type CallOptions,
  type LoadOptions,
} from './table/cached-table.js';
export { type InvalidationSnapshot, invalidatedBy } from './table/invalidation-set.js';
export { KeyTypes } from './table/key-types.js';
export type { RangeMarksData } from './table/range-marks.js';
export type { LoadProgress } from './table/refresh-engine.js';
export type { MappedWatchOptions, TableMapping, Unwatch, WatchOptions } from './table/table-watcher.js';
export { isTimeout, waitFor } from './table/waits.js';
