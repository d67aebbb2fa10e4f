#!/usr/bin/env node
// The installed command: all logic lives in the compiled TypeScript (dist/src/cli/main.js).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`cloakpipe: internal error: ${err?.stack ?? err}\n`);
    process.exit(70);
  },
);
