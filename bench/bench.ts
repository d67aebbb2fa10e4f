/**
 * `npm run bench`: parse the options, check the binaries, make a key, run the chosen parts in
 * order, print one markdown table per part on stdout (progress goes to stderr), and write the
 * JSON results to bench/results/<timestamp>.json. Exit 0 on success; 1 on a usage error, a
 * missing binary, a digest mismatch, a crashed process or any other failure; 130/143 on
 * SIGINT/SIGTERM. Every process started is killed on the way out, whatever the way out is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBulk } from './bulk.js';
import { runCluster } from './cluster.js';
import type { Context } from './context.js';
import { runHandshakes } from './handshakes.js';
import { runEngine } from './engine.js';
import { runMemory } from './memory.js';
import { type Part, parseSettings, type Settings, USAGE, UsageError } from './options.js';
import { writeKeyFile } from './pairs.js';
import { requireBinaries, versionOf } from '../test/support/bins.js';
import { killAllNow, onCrash, setStartDefaults, stopAll } from '../test/support/procs.js';
import { openFileLimit } from '../test/support/system.js';
import { runRedis } from './redis.js';
import { markdown, type Table, writeJson } from './report.js';
import { summaryMarkdown, summaryRows } from './summary.js';
import { runWorkers } from './workers.js';

/** Where results go: bench/results/ in the repository (the benchmark runs from dist/bench/). */
const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const CLOAKPIPE_BIN = fileURLToPath(new URL('../../bin/cloakpipe.js', import.meta.url));

const RUNNERS: Record<Part, (ctx: Context) => Promise<Table>> = {
  bulk: runBulk,
  handshakes: runHandshakes,
  redis: runRedis,
  memory: runMemory,
  cluster: runCluster,
  workers: runWorkers,
  engine: runEngine,
};

function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function environment(settings: Settings): Record<string, unknown> {
  return {
    node: process.version,
    cloakpipe: versionOf(process.execPath, [CLOAKPIPE_BIN, '-v']),
    spiped: versionOf('spiped', ['-v']),
    redis: settings.parts.some((p) => p === 'redis' || p === 'cluster' || p === 'workers')
      ? versionOf('redis-server', ['--version'])
      : null,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    loadavgAtStart: loadavg().map((x) => Number(x.toFixed(2))),
    openFileLimit: openFileLimit(),
  };
}

async function run(settings: Settings): Promise<void> {
  const needs = (p: Part): boolean => settings.parts.includes(p);
  requireBinaries([
    ...(settings.parts.some((p) => ['bulk', 'handshakes', 'redis', 'memory'].includes(p))
      ? ['spiped']
      : []),
    ...(needs('redis') || needs('cluster') || needs('workers')
      ? ['redis-server', 'redis-benchmark']
      : []),
    ...(needs('cluster') || needs('workers') ? ['redis-cli'] : []),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'cloakpipe-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const tables: Table[] = [];
  const ctx: Context = { settings, keyFile: writeKeyFile(dir), progress, tables };
  const crashed = new Promise<never>((_, reject) =>
    onCrash((p, code) =>
      reject(
        new Error(
          `${p.name} (pid ${p.pid}) exited unexpectedly (${code})` +
            // A daemon ending cleanly or by a signal we did not send was stopped by someone else.
            `${code === 0 || code === 'SIGTERM' || code === 'SIGINT' || code === 'SIGHUP' ? ', apparently stopped from outside the harness' : ''}` +
            `; output:\n${p.output()}`,
        ),
      ),
    ),
  );
  crashed.catch(() => {});

  const startedAt = new Date();
  const env = environment(settings);
  process.stdout.write(
    `## cloakpipe benchmark, ${startedAt.toISOString()}\n\n` +
      `${settings.preset} preset; ${env.cloakpipe}, ${env.spiped}, node ${env.node}, ${env.cpus}, ` +
      `load average at start ${(env.loadavgAtStart as number[]).join(' ')}\n\n`,
  );
  for (const part of settings.parts) {
    progress(`${part}: starting`);
    const table = await Promise.race([RUNNERS[part](ctx), crashed]);
    tables.push(table);
    process.stdout.write(`${markdown(table)}\n`);
  }
  const summary = summaryRows(tables);
  process.stdout.write(
    `${summaryMarkdown(summary, settings.rounds)}\n` +
      `load average at end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}\n\n`,
  );
  const path = writeJson(
    RESULTS_DIR,
    {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      seconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      settings,
      environment: { ...env, loadavgAtEnd: loadavg().map((x) => Number(x.toFixed(2))) },
      summary,
    },
    tables,
  );
  progress(`results written to ${path}`);
}

/** The most output kept per child process (older output is dropped). */
const PROC_OUTPUT_TAIL = 16 * 1024;
/** How long a stopped child has between SIGTERM and SIGKILL. */
const PROC_KILL_AFTER_MS = 1000;

async function main(): Promise<number> {
  let settings: Settings | null;
  try {
    settings = parseSettings(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n\n${USAGE}`);
    return 1;
  }
  if (settings === null) {
    process.stdout.write(USAGE);
    return 0;
  }
  // Long runs keep only a tail of each child's output, and servers get SIGTERM before SIGKILL.
  setStartDefaults({ tail: PROC_OUTPUT_TAIL, killAfterMs: PROC_KILL_AFTER_MS });
  process.on('exit', killAllNow);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.once(sig, () => {
      // Children in our process group got the signal too: their exits are not crashes now.
      onCrash(() => {});
      progress(`${sig}: stopping every process started`);
      void stopAll().finally(() => process.exit(code));
    });
  try {
    await run(settings);
    await stopAll();
    return 0;
  } catch (e) {
    process.stderr.write(`bench: FAILED: ${(e as Error).message}\n`);
    await stopAll();
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: internal error: ${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  },
);
