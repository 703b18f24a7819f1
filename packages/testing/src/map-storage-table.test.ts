import { MapStorageTable } from '@tablecache/core/testing';
import { describeStorageTableConformance } from './storage-conformance.js';

// The naive storage core's engine tests run on must behave like every other storage.
describeStorageTableConformance('MapStorageTable', (layout) => new MapStorageTable(layout));
