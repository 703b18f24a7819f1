export { ReadTimeoutError } from './checked-out-client.js';
export { type CliIo, runCli, USAGE } from './cli/run-cli.js';
export { compileQuery, type SqlStatement } from './compile-query.js';
export { KeyDecodeError } from './decode-keys.js';
export { explainInvalidation } from './invalidation-plan/explain-invalidation.js';
export { type LoadProgressBarOptions, loadProgressBar } from './load-progress-bar.js';
export {
  InvalidLsnError,
  PgoutputDecodeError,
  PublicationMissingError,
  ReplicationConnectionError,
  ReplicationPermissionError,
  SlotInUseError,
  SlotMissingError,
  WalLevelError,
} from './logical/logical-errors.js';
export { compareLsn, formatLsn, type Lsn, parseLsn } from './logical/lsn.js';
export { PgLogicalFeed, type PgLogicalFeedOptions } from './logical/pg-logical-feed.js';
export {
  checkPublication,
  DEFAULT_PUBLICATION,
  installPublication,
  MissingPublicationError,
  type PublicationCheck,
  type PublicationOptions,
  type PublicationProblem,
  type PublicationProblemKind,
  type PublishedTableCheck,
  publicationStatements,
  type UninstallPublicationOptions,
  uninstallPublication,
} from './logical/publication.js';
export { dropReplicationSlot, readSlotLag, type SlotLag, type SlotQueryTarget } from './logical/slots.js';
export { FeedConnectionError } from './notify/feed-errors.js';
export { type Payload, PayloadError, parsePayload } from './notify/payload.js';
export { PgNotifyFeed, type PgNotifyFeedOptions } from './notify/pg-notify-feed.js';
export {
  PostgresAccess,
  type PostgresAccessOptions,
  type PostgresAccessSettings,
  type PostgresConnection,
  type PostgresConnectionString,
} from './postgres-access.js';
export {
  type CheckTriggersOptions,
  checkTriggers,
  MissingTriggersError,
  type RequireTriggersOptions,
  requireTriggers,
  type TableCheck,
  type TriggerCheck,
  type TriggerProblem,
  type TriggerProblemKind,
} from './triggers/check-triggers.js';
export {
  type InstallTriggersForOptions,
  type InstallTriggersOptions,
  installTriggers,
  type PartitionCoverage,
  TriggerInstallError,
  triggerStatements,
  type UninstallTriggersOptions,
  uninstallTriggers,
} from './triggers/install-triggers.js';
export { DEFAULT_CHANNEL, type TableName, type TransactionalAccess, type TriggerTarget } from './triggers/trigger-target.js';
