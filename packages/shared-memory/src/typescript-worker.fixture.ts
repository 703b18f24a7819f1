import { Worker } from 'node:worker_threads';

/**
 * A worker running a TypeScript module. `execArgv: ['--import', 'tsx']` does not reach a
 * worker's own module loading on Node 20 (its loader hooks stay on the main thread), so the
 * worker registers tsx itself and then imports the module.
 */
export function typeScriptWorker(module: URL, workerData: unknown): Worker {
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(module.href)}); })`;
  return new Worker(boot, { eval: true, workerData, execArgv: ['--conditions=source'] });
}
