// Goal: log lines bound for the systemd journal carry the sd-daemon priority prefix that matches
// their level (so `journalctl -p warning` filters them), in both level forms, and only when
// JOURNAL_STREAM names the very fd being written.
import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isJournalStream, JOURNAL_PRIORITY, journalPrefix } from '../../../src/daemon/journal.js';
import { ROOT } from '../../support/ends.js';
import { tempDir } from '../../support/system.js';

test('journalPrefix: each pino level, as a name or a number, maps to its syslog priority', () => {
  const want: [string, number, string][] = [
    ['trace', 10, '<7>'],
    ['debug', 20, '<7>'],
    ['info', 30, '<6>'],
    ['warn', 40, '<4>'],
    ['error', 50, '<3>'],
    ['fatal', 60, '<2>'],
  ];
  for (const [name, n, prefix] of want) {
    assert.equal(journalPrefix(`{"level":"${name}","time":"t","msg":"m"}\n`), prefix, name);
    assert.equal(journalPrefix(`{"level":${n},"time":"t","msg":"m"}\n`), prefix, String(n));
  }
  assert.equal(journalPrefix('not json\n'), '<5>', 'an unreadable level is notice, not dropped');
  assert.equal(journalPrefix('{"level":"verbose"}\n'), '<5>');
});

test('isJournalStream: true only when JOURNAL_STREAM is the device:inode of that fd', () => {
  const file = join(tempDir(), 'out');
  const fd = openSync(file, 'w');
  try {
    const st = fstatSync(fd, { bigint: true });
    assert.equal(isJournalStream(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino}` }), true);
    assert.equal(isJournalStream(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }), false);
    assert.equal(isJournalStream(fd, {}), false);
    assert.equal(isJournalStream(fd, { JOURNAL_STREAM: 'garbage' }), false);
  } finally {
    closeSync(fd);
  }
  assert.equal(isJournalStream(fd, { JOURNAL_STREAM: '1:2' }), false, 'a closed fd is not');
});

test('the man page documents JOURNAL_STREAM with the priorities the code uses', () => {
  const page = readFileSync(join(ROOT, 'contrib', 'cloakpipe.1'), 'utf8');
  const p = JOURNAL_PRIORITY;
  const text = [
    '.TP',
    '.B JOURNAL_STREAM',
    'Set by systemd when standard output goes to the journal. When it names standard output, each',
    `log line starts with its syslog priority (\\fB<${p.warn}>\\fR warn, \\fB<${p.error}>\\fR error, \\fB<${p.fatal}>\\fR fatal,`,
    `\\fB<${p.info}>\\fR info, \\fB<${p.debug}>\\fR debug and trace), which journald stores as PRIORITY, so`,
    '\\fBjournalctl \\-p warning\\fR shows only warnings and worse.',
  ].join('\n');
  assert.ok(page.includes(text), 'JOURNAL_STREAM entry in ENVIRONMENT');
  assert.equal(p.trace, p.debug);
});
