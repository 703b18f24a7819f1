import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on a TypeScript module. Node 20 applies no `--import tsx` hooks to a
 * worker's own modules, so a small bootstrap loads the module through tsx's API.
 */
export function typescriptWorker(module: URL, options: WorkerOptions = {}): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(module.href)}, ${JSON.stringify(module.href)}))`;
  return new Worker(bootstrap, { ...options, eval: true });
}
