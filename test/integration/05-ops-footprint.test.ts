// Goal: the Kubernetes example fits the real process. Its key is installed exactly as the
// example's init container does (install -m 0400), and the sidecar's flags and environment,
// taken from the manifest, start with no warning; the idle resident memory (ps -o rss) fits the
// memory the manifest requests; the Secret is mounted 0400.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { echoServer } from '../helpers/targets.js';
import { ROOT, startCloakpipe } from '../support/ends.js';
import { freePort } from '../support/net.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);
const MANIFEST = join(ROOT, 'contrib', 'kubernetes', 'redis-cloakpipe-sidecar.yaml');
const KiB = 1024;
const MiB = 1024 * KiB;

/** The cloakpipe container's block of the manifest (up to the next container or volumes). */
function sidecarBlock(yaml: string): string {
  const start = yaml.indexOf('        - name: cloakpipe\n');
  assert.ok(start >= 0, 'the manifest has a container named cloakpipe');
  const end = yaml.indexOf('\n      volumes:', start);
  return yaml.slice(start, end);
}

test('the example key install (0400) and the sidecar settings start without a warning', async (t) => {
  const yaml = readFileSync(MANIFEST, 'utf8');
  const install =
    /command: \["install", "-m", "(0[0-7]{3})", "[^"]+", "\/etc\/cloakpipe\/key"\]/.exec(yaml);
  assert.ok(install, 'the init container installs the key with an explicit mode');
  assert.equal(install[1], '0400');
  assert.match(yaml, /secretName: redis-cloakpipe-key\n\s+defaultMode: 0400\n/);
  assert.doesNotMatch(yaml, /defaultMode: 0440/);
  const dir = tempDir();
  const secret = join(dir, 'secret-key');
  writeFileSync(secret, randomBytes(32), { mode: 0o440 });
  const key = join(dir, 'key');
  execFileSync('install', ['-m', install[1], secret, key]);
  assert.equal(statSync(key).mode & 0o777, 0o400);

  const block = sidecarBlock(yaml);
  const env: Record<string, string> = {};
  for (const m of block.matchAll(/\{ name: (CLOAKPIPE_[A-Z_]+), value: "([^"]*)" \}/g))
    env[m[1]!] = m[2]!;
  assert.ok(Object.keys(env).length >= 4, `sidecar env parsed: ${JSON.stringify(env)}`);
  const mport = await freePort();
  env.CLOAKPIPE_METRICS = `127.0.0.1:${mport}`;
  const target = await echoServer();
  const end = await startCloakpipe(
    ['-F', '-d', '-s', '[127.0.0.1]:0', '-t', target.address, '-k', key],
    { env },
  );
  await end.proc.waitFor(/serving \/metrics/);
  assert.doesNotMatch(end.proc.output(), /WARN|WARNING/);

  // Idle: let start-up garbage settle, then read RSS the way an operator would.
  await new Promise((r) => setTimeout(r, 2000));
  const pid = String(end.proc.child.pid);
  const rss = Number(execFileSync('ps', ['-o', 'rss=', '-p', pid], { encoding: 'utf8' })) * KiB;
  const request = /requests: \{ cpu: \w+, memory: (\d+)Mi \}/.exec(block);
  assert.ok(request, 'the sidecar requests memory');
  const requested = Number(request[1]) * MiB;
  const line = `idle RSS ${(rss / MiB).toFixed(1)} MiB; the manifest requests ${request[1]} MiB`;
  t.diagnostic(line);
  assert.ok(rss > 0 && rss <= requested, line);
});
