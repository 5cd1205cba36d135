/**
 * Start a worker thread from a module URL. Compiled `.js` modules load directly (production:
 * `node dist/...`). `.ts` sources (tests, dev scripts) are loaded through tsx's ESM register
 * API in a tiny eval bootstrap: Node 20 cannot run a `.ts` worker entry by itself, and this
 * starts in ~0.35 s against ~1.5 s for ts-node hooks.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function spawnWorker(url: URL, options: WorkerOptions): Worker {
  if (url.pathname.endsWith('.ts')) {
    const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
    return new Worker(boot, { ...options, eval: true, execArgv: [] });
  }
  return new Worker(url, options);
}

/** URL of a sibling module with the extension this module was loaded with (.ts or .js). */
export function siblingModule(base: string, name: string): URL {
  const ext = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, base);
}
