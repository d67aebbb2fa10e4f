// Goal: -u takes what spiped's -u takes: user, user:group or :group, by name or by numeric id,
// and leaves every supplementary group first, as spiped does.
// After listening the end runs as that uid/gid (read from /proc/<pid>/status) and still carries
// tunnels; `-u :` is a usage error. Needs root, as -u does (README: Test prerequisites).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { echoServer, sha256hex, transfer } from '../helpers/targets.js';
import { runCloakpipe, startCloakpipeUnder, startEnd } from '../support/ends.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);
const dir = tempDir();
const key = join(dir, 'k');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

/** Real uid and gid of `pid`, and its supplementary groups, from /proc/<pid>/status. */
function idsOf(pid: number): { uid: number; gid: number; groups: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
  const groups = /^Groups:[ \t]*(.*)$/m.exec(status)?.[1]?.trim() ?? '?';
  return { uid: field('Uid'), gid: field('Gid'), groups };
}

for (const [spec, want] of [
  ['65534:65534', { uid: 65534, gid: 65534 }],
  ['nobody:nogroup', { uid: 65534, gid: 65534 }],
  [':65534', { uid: 0, gid: 65534 }],
] as const)
  test(`-u ${spec}: after listening the end runs as uid ${want.uid}, gid ${want.gid}; tunnels work`, async () => {
    assert.equal(process.getuid?.(), 0, 'this test needs root (README: Test prerequisites)');
    const target = await echoServer();
    // Started with supplementary groups (as a root shell often has), which -u must leave.
    const d = await startCloakpipeUnder(
      ['setpriv', '--groups', '4,24'],
      ['-d', '-s', '[127.0.0.1]:0', '-t', target.address, '-k', key, '-u', spec],
    );
    // Supplementary groups are left as spiped leaves them: root's group 0 must not stay.
    assert.deepEqual(idsOf(d.proc.pid), { ...want, groups: '' });
    const e = await startEnd('-e', d.address, key);
    const payload = randomBytes(10_000);
    assert.equal((await transfer(e.address, payload)).sha256, sha256hex(payload));
  });

test('-u ":" is a usage error that says what -u takes', async () => {
  const r = await runCloakpipe([
    '-d',
    '-s',
    '[127.0.0.1]:0',
    '-t',
    '[127.0.0.1]:9',
    '-k',
    key,
    '-u',
    ':',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /-u ":": give a user, user:group or :group \(names or numeric ids\)/);
});
