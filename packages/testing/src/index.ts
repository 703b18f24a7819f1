export { type BackendConnection, type OpenBackend, type TestBackend, testBackends } from './backends.js';
export { describeStorageTableConformance, type Item, itemLayout, type StorageFactory } from './storage-conformance.js';
export { canCreateClusters, dropLeftoverClusters, TestCluster } from './test-cluster.js';
export { createTestDatabase, LOCAL_SERVER_URL, serverAnswers, type TestDatabase } from './test-server.js';
