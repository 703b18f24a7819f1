// A worker that opens a reader, reads once, and ends its script without closing the reader: its
// thread must exit on its own (nothing the reader made keeps it alive).
import { parentPort, workerData } from 'node:worker_threads';
import { MemoryDatabase } from '@tablecache/core/testing';
import { openSharedTable } from '../open-shared-table.js';
import { type Item, itemIndexes } from './items.fixture.js';

const reader = await openSharedTable(workerData, itemIndexes(new MemoryDatabase<Item>((i) => i.id)));
parentPort?.postMessage(reader.peek(1));
