import { SharedMemoryStorageTable } from '../src/index.js';
import { benchLayout, benchRow } from './bench-row.js';

const t = new SharedMemoryStorageTable(benchLayout);
for (let i = 0; i < 200000; i++) t.put(benchRow(i));
for (let r = 0; r < 10; r++) {
  const s = performance.now();
  t.getRecords({ kind: 'all' });
  console.log((((performance.now() - s) * 1e6) / 200000).toFixed(0));
}
const s = performance.now();
let x = 0;
for (let i = 0; i < 1e6; i++) x += t.get(100000 + ((i * 7919) % 200000))!.city_id;
console.log('get', (((performance.now() - s) * 1e6) / 1e6).toFixed(0));
