#!/usr/bin/env node
// Production entry point: runs the compiled CLI from dist/ (no TypeScript loader at run time).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/engine/cli.js', import.meta.url);

if (!existsSync(entry)) {
  process.stderr.write('aether-risk: dist/engine/cli.js not found; run `npm run build` first\n');
  process.exitCode = 1;
} else {
  const { main } = await import(entry.href);
  process.exitCode = await main(process.argv.slice(2));
}
