import { describeStorageTableConformance } from '@tablecache/testing';
import { LocalStorageTable } from './local-storage-table.js';

describeStorageTableConformance('LocalStorageTable', (layout) => new LocalStorageTable(layout));
