// Goal: the operator-facing documents say what the program does: the man page's ENVIRONMENT
// section and the Kubernetes example describe unknown CLOAKPIPE_* variables as ignored with a
// warning (and the real binary does exactly that), the README links SECURITY.md as written,
// names every runtime dependency, and lists the test prerequisites.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, ROOT } from '../../support/ends.js';

const read = (...p: string[]): string => readFileSync(join(ROOT, ...p), 'utf8');

/** The Debian packages the suite needs: README (twice) and .ci/run must all name exactly these. */
const TEST_PACKAGES =
  'redis-server redis-tools spiped systemd util-linux iproute2 xxd groff man-db';

test('unknown CLOAKPIPE_* names: the man page, the k8s example and the binary agree', () => {
  const page = read('contrib', 'cloakpipe.1');
  const env = page.slice(
    page.indexOf('.SH ENVIRONMENT'),
    page.indexOf('.TP', page.indexOf('.SH ENVIRONMENT')),
  );
  assert.ok(
    env.includes(
      'An unknown \\fBCLOAKPIPE_*\\fR variable is ignored, with a warning on standard error that names it; other names are never read.\n',
    ),
    env,
  );
  assert.doesNotMatch(page, /usage error, like an unknown option/);
  const yaml = read('contrib', 'kubernetes', 'redis-cloakpipe-sidecar.yaml');
  assert.ok(
    yaml.includes(
      '      # cloakpipe reads CLOAKPIPE_* variables as options and ignores unknown ones with a warning at\n' +
        '      # every start; turning service links off keeps the log clean.\n',
    ),
  );
  assert.doesNotMatch(yaml, /refuses unknown/);
  const r = spawnSync(process.execPath, [BIN, '-v'], {
    encoding: 'utf8',
    env: { ...process.env, CLOAKPIPE_SERVICE_HOST: '10.0.0.1' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /CLOAKPIPE_SERVICE_HOST/, 'the warning names the variable');
  assert.equal(
    r.stdout.trim(),
    `cloakpipe ${(JSON.parse(read('package.json')) as { version: string }).version}`,
  );
});

test('README: SECURITY.md is linked as written and exists', () => {
  const readme = read('README.md');
  assert.ok(readme.includes('See [SECURITY.md](SECURITY.md); in short,'));
  assert.doesNotMatch(readme, /once written/);
  assert.ok(existsSync(join(ROOT, 'SECURITY.md')));
});

test('README: the dependency list names every runtime dependency in package.json', () => {
  const readme = read('README.md');
  const start = readme.indexOf('**Dependencies and why.**');
  const para = readme.slice(start, readme.indexOf('\n\n', start));
  const deps = Object.keys(
    (JSON.parse(read('package.json')) as { dependencies: Record<string, string> }).dependencies,
  );
  assert.ok(deps.includes('prom-client'));
  for (const d of deps) assert.ok(para.includes(`\`${d}\``), `${d} is in the dependency list`);
});

test('README: the test prerequisites name root, iproute2, netns, systemd tools and Node ≥ 20.19', () => {
  const readme = read('README.md');
  const start = readme.indexOf('### Test prerequisites');
  assert.ok(start >= 0, 'a "Test prerequisites" section');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  for (const text of [
    '- **Node ≥ 20.19** (`node --version`).',
    'curl -fsSL https://deb.nodesource.com/setup_22.x -o nodesource_setup.sh',
    'sudo bash nodesource_setup.sh && sudo apt-get install -y nodejs',
    'V=v22.12.0; curl -fsSLO "https://nodejs.org/dist/$V/node-$V-linux-x64.tar.xz"',
    'sudo tar -xJf "node-$V-linux-x64.tar.xz" -C /usr/local --strip-components=1',
    `\`sudo apt-get install -y ${TEST_PACKAGES}\``,
    'The `systemd` package gives `systemd-analyze` (the unit checks) and `systemd-socket-activate`',
    '- **Root, iproute2 and network namespaces:**',
    '(`ip netns add`), which needs root',
  ])
    assert.ok(section.includes(text), `missing: ${text}`);
  // The first screen's test command and CI install the same packages.
  assert.ok(readme.includes(`sudo apt-get install -y ${TEST_PACKAGES} && npm ci && npm test`));
  const ci = read('.ci', 'run').replace(/\\\n\s*/g, '');
  assert.ok(ci.includes(`--no-install-recommends ${TEST_PACKAGES}\n`), 'CI installs them');
});
