import { test } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import { MemoryFeed } from '../testing/index.js';
import { usersTable, all, keys } from './users.fixture.js';
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
test('probe', async () => {
  const used = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
  const { table } = usersTable();
  await table.load(all);
  await table.watch(new MemoryFeed());
  let b = used();
  for (let i = 0; i < 100_000; i++) await table.sync({ timeoutMs: 1000 });
  console.log('sync growth MB', (used() - b) / 1e6);
  b = used();
  for (let i = 0; i < 20_000; i++) { table.invalidateRecords([keys(1)]); await table.getRecords(keys(1)); }
  console.log('read-wait growth MB', (used() - b) / 1e6);
  console.log(table.status.load);
});
