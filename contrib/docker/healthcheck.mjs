#!/usr/bin/env node
// The image's HEALTHCHECK: GET /healthz from cloakpipe's --metrics endpoint, and exit 0 only on
// HTTP 200. The check needs --metrics. It finds the endpoint in CLOAKPIPE_METRICS (which the
// Dockerfile sets to 127.0.0.1:9090, and which cloakpipe reads as --metrics), so give a different
// metrics address through that variable rather than through --metrics, or the check looks in the
// wrong place. Forms: port | host:port | [IPv6]:port. A wildcard host is checked on loopback.
// Exit status (Docker's contract): 0 healthy, 1 unhealthy; one line of output says why.
import { get } from 'node:http';

const TIMEOUT_MS = 3000;
const value = process.env.CLOAKPIPE_METRICS;

function fail(why) {
  process.stdout.write(`unhealthy: ${why}\n`);
  process.exit(1);
}

if (value === undefined || value === '')
  fail('CLOAKPIPE_METRICS is not set, so cloakpipe serves no /healthz (set it, e.g. to 9090)');
const m = /^(?:\[([^\]]+)\]:|([^:[\]]+):)?([0-9]{1,5})$/.exec(value);
if (!m) fail(`CLOAKPIPE_METRICS=${value}: expected port, host:port or [IPv6]:port`);
const given = m[1] ?? m[2] ?? '127.0.0.1';
const host = given === '0.0.0.0' ? '127.0.0.1' : given === '::' ? '::1' : given;
const url = `http://${host.includes(':') ? `[${host}]` : host}:${m[3]}/healthz`;

const req = get(url, { timeout: TIMEOUT_MS }, (res) => {
  res.resume();
  if (res.statusCode === 200) {
    process.stdout.write(`healthy: ${url} answered 200\n`);
    process.exit(0);
  }
  fail(`${url} answered ${res.statusCode}`);
});
req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
req.on('error', (err) => fail(`${url}: ${err.message}`));
