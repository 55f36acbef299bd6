/// <reference types="node" />
/**
 * Where the pool's worker script is. `import.meta` exists only in ES modules: the CommonJS build
 * replaces this file's output with one that uses `__dirname` (scripts/build.mjs).
 */
// @ts-ignore TS1343 (import.meta) in the CommonJS build, whose output is replaced.
export const POOL_WORKER_URL: URL = new URL('./pool-worker.js', import.meta.url);
