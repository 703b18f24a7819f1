export { compileQuery, type SqlStatement } from './compile-query.js';
export {
  PostgresAccess,
  type PostgresAccessOptions,
  type PostgresConnection,
} from './postgres-access.js';
