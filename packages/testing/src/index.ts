export { testBackends, type BackendConnection, type OpenBackend, type TestBackend } from './backends.js';
export { InjectedFailures } from './injected-failures.js';
export { MemoryDatabase, type Gate } from './memory-database.js';
export { MemoryFeed } from './memory-feed.js';
export { readWhile, type ReadWhileResult } from './read-while.js';
export { describeStorageTableConformance, itemLayout, type Item, type StorageFactory } from './storage-conformance.js';
export { createTestDatabase, LOCAL_SERVER_URL, serverAnswers, type TestDatabase } from './test-server.js';
