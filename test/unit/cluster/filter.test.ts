// Goal: the -e end's cluster filter rewrites every node address in paired topology replies and in
// redirects to local listeners (opened before the reply is released), leaves everything else byte
// for byte, and gives the same output whether a reply arrives whole or one byte at a time.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { ClusterFilter, ReplyRejected } from '../../../src/cluster/filter.js';
import { NodeListeners } from '../../../src/cluster/nodes.js';
import { SEED_ROUTE } from '../../../src/protocol/route.js';
import { decodeValue } from '../../../src/resp/index.js';
import { ROOT } from '../../support/ends.js';

interface Capture {
  cluster: string;
  variant: string;
  resp: number;
  node: string;
  command: string;
  request: string;
  reply: string;
}
const captures = (
  JSON.parse(readFileSync(`${ROOT}test/vectors/resp/cluster-captures.json`, 'utf8')) as {
    captures: Capture[];
  }
).captures;

const log = pino({ level: 'silent' });
const listeners = new NodeListeners({
  bindHost: '127.0.0.1',
  advertiseHost: '127.0.0.1',
  ports: null,
  log,
  accept: (s) => s.destroy(),
});
after(() => listeners.close());
const counts: Record<string, number> = {};
const counter = { rewrite: (k: string) => void (counts[k] = (counts[k] ?? 0) + 1) };

function filter(): ClusterFilter {
  return new ClusterFilter({ listeners, route: SEED_ROUTE, log, counter });
}

/** Feed `request` up and `reply` down in the given chunks; the concatenated output. */
async function run(
  f: ClusterFilter,
  request: string,
  reply: Buffer,
  chunk: number,
): Promise<Buffer> {
  assert.deepEqual(f.up(Buffer.from(request, 'latin1')), Buffer.from(request, 'latin1'));
  const out: Buffer[] = [];
  for (let i = 0; i < reply.length; i += chunk)
    out.push(...(await f.down(reply.subarray(i, i + chunk))));
  return Buffer.concat(out);
}

/** Real node ports named in a capture (5-digit ports of the test clusters, not bus ports). */
function realPorts(c: Capture): string[] {
  return [...new Set([...c.reply.matchAll(/[:$ ]?(2[0-9]{4})(?=[@\r\n])/g)].map((m) => m[1]!))];
}

const TOPOLOGY = /^CLUSTER (SLOTS|SHARDS|NODES|REPLICAS|SLAVES)|^MULTI/;

describe('golden captures from a live 7.0.15 cluster', () => {
  for (const c of captures) {
    const name = `${c.cluster} ${c.variant} RESP${c.resp} ${c.command.slice(0, 60)}`;
    test(`${name}: whole and byte by byte give the same bytes`, async () => {
      const reply = Buffer.from(c.reply, 'latin1');
      const whole = await run(filter(), c.request, reply, reply.length);
      const bytewise = await run(filter(), c.request, reply, 1);
      assert.deepEqual(bytewise, whole);
      const decoded = decodeValue(whole);
      // A MULTI capture is several replies (+OK, +QUEUED…, the EXEC array): the first re-parses.
      const multi = c.command.startsWith('MULTI');
      assert.ok(
        decoded.ok || (multi && decoded.reason === 'trailing-bytes'),
        `output re-parses (${JSON.stringify(decoded)})`,
      );
      if (TOPOLOGY.test(c.command) && !c.command.startsWith('EVAL')) {
        if (reply[0] === 0x2d) return; // an error reply carries no nodes
        for (const p of realPorts(c))
          assert.ok(
            !whole.toString('latin1').includes(`:${p}\r`) &&
              !whole.toString('latin1').includes(`:${p}@`) &&
              !whole.toString('latin1').includes(`\r\n:${p}\r\n`),
            `real port ${p} left in ${name}`,
          );
        assert.ok(!/node-\d+\.internal/.test(whole.toString('latin1')), 'hostnames dropped');
      } else if (
        !whole.toString('latin1').startsWith('-MOVED') &&
        !whole.toString('latin1').startsWith('-ASK')
      ) {
        assert.deepEqual(whole, reply, 'not a topology reply: passed byte for byte');
      }
    });
  }
});

test('a GET whose value looks like a CLUSTER SLOTS reply passes untouched', async () => {
  const slots = captures.find((c) => c.command === 'CLUSTER SLOTS' && c.resp === 2)!;
  const value = Buffer.from(slots.reply, 'latin1');
  const reply = Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')]);
  const out = await run(filter(), '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', reply, 7);
  assert.deepEqual(out, reply);
});

test('a top-level -MOVED is rewritten even when not paired, to the same address SLOTS uses', async () => {
  const slots = captures.find(
    (c) => c.command === 'CLUSTER SLOTS' && c.variant === 'ip' && c.resp === 2,
  )!;
  const rewritten = (
    await run(filter(), slots.request, Buffer.from(slots.reply, 'latin1'), 1000)
  ).toString('latin1');
  const f = filter();
  f.up(Buffer.from('SUBSCRIBE ch\r\n'));
  const out = Buffer.concat(await f.down(Buffer.from('-MOVED 3999 127.0.0.1:27100\r\n'))).toString(
    'latin1',
  );
  const m = /^-MOVED 3999 127\.0\.0\.1:(\d+)\r\n$/.exec(out);
  assert.ok(m, out);
  assert.notEqual(m[1], '27100');
  assert.ok(
    rewritten.includes(`:${m[1]}\r\n`),
    'one canonical local address per node across reply types',
  );
});

test('the listener for a node named in a reply is open before the reply is released', async () => {
  const f = filter();
  const out = Buffer.concat(await f.down(Buffer.from('-ASK 12 127.0.0.1:29999\r\n'))).toString(
    'latin1',
  );
  const port = Number(/:(\d+)\r\n$/.exec(out)![1]);
  const { connect } = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
});

test('pipelined requests pair in order; a RESP3 push between replies does not consume a request', async () => {
  const slots = captures.find(
    (c) => c.command === 'CLUSTER SLOTS' && c.resp === 3 && c.variant === 'ip',
  )!;
  const f = filter();
  f.up(
    Buffer.from(
      '*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n*1\r\n$4\r\nPING\r\n',
    ),
  );
  const push = '>3\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n$0\r\n\r\n';
  const stream = Buffer.from(`$3\r\nfoo\r\n${push}${slots.reply}+PONG\r\n`, 'latin1');
  const out = Buffer.concat(await f.down(stream)).toString('latin1');
  assert.ok(out.startsWith(`$3\r\nfoo\r\n${push}`));
  assert.ok(out.endsWith('+PONG\r\n'));
  assert.ok(!out.includes(':27100\r\n'), 'the SLOTS reply was rewritten');
});

test('a malformed reply is rejected (the tunnel drops that connection)', async () => {
  const f = filter();
  f.up(Buffer.from('PING\r\n'));
  assert.throws(() => f.down(Buffer.from('?what\r\n')), ReplyRejected);
});

test('a topology reply larger than the capture cap is rejected, not forwarded with real addresses', async () => {
  const f = new ClusterFilter({ listeners, route: SEED_ROUTE, log, counter, captureCap: 1024 });
  f.up(Buffer.from('CLUSTER NODES\r\n'));
  const big = `$5000\r\n${'x'.repeat(5000)}\r\n`;
  assert.throws(() => f.down(Buffer.from(big)), ReplyRejected);
});

test('rewrites are counted by kind', () => {
  assert.ok(
    (counts.slots ?? 0) > 0 && (counts.nodes ?? 0) > 0 && (counts.moved ?? 0) > 0,
    JSON.stringify(counts),
  );
});
