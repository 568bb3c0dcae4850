import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The compiled CLI that `npm start` and `npx movticket` run; tests that start processes use it. */
export const CLI_ENTRY = 'dist/cli/main.js';

/**
 * vitest global setup: compiles src/ to dist/ (incremental, so an unchanged tree costs a few
 * seconds) so that process tests run what an operator runs, and never a stale build.
 */
export default function buildDist(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}
