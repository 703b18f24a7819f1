export { compileQuery, type SqlStatement } from './compile-query.js';
export {
  PostgresAccess,
  type PostgresAccessOptions,
  type PostgresConnection,
} from './postgres-access.js';
export {
  installTriggers,
  triggerStatements,
  TriggerInstallError,
  uninstallTriggers,
  type InstallTriggersOptions,
  type UninstallTriggersOptions,
} from './triggers/install-triggers.js';
export { DEFAULT_CHANNEL, type TableName, type TransactionalAccess, type TriggerTarget } from './triggers/trigger-target.js';
export { PgNotifyFeed, type PgNotifyFeedOptions } from './notify/pg-notify-feed.js';
export { parsePayload, PayloadError, type Payload } from './notify/payload.js';
export { runCli, USAGE, type CliIo } from './cli/run-cli.js';
