// Test support for tablecache's engine and for code built on it: a scriptable in-memory
// database, a change feed driven by the test, a naive storage, and helpers to stage faults.
export { InjectedFailures } from './injected-failures.js';
export { MapStorageTable } from './map-storage-table.js';
export { type Gate, MemoryDatabase } from './memory-database.js';
export { MemoryFeed } from './memory-feed.js';
export { type ReadWhileResult, readWhile } from './read-while.js';
