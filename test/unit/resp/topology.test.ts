// Goal: every captured topology reply (SLOTS, SHARDS, NODES, REPLICAS, EXEC; RESP2 and RESP3; ip,
// hostname, "?", unknown-endpoint, IPv6, lone node) yields the right nodes, and rewrites to a reply
// that re-parses cleanly (our reference decoder and redis-parser), names only the local addresses,
// keeps everything else, and recomputes every length and count.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Parser from 'redis-parser';
import {
  type AddressMap,
  decodeValue,
  encodeValue,
  extractExecNodes,
  extractNodes,
  type NodeAddress,
  parseRedirect,
  rewriteExec,
  rewriteRedirect,
  rewriteTopology,
  type TopologyKind,
} from '../../../src/resp/index.js';
import {
  bytes,
  type Capture,
  captureFile,
  entries,
  items,
  type Ref,
  refDecode,
  str,
  text,
} from './helpers.js';

const LOCAL = '10.1.2.3';
const REAL_PORTS = new Set([27100, 27101, 27102, 27103, 27104, 27105, 27200, 27201, 27202, 27300]);
const local = (port: number): number => port + 20000;
const map: AddressMap = (_host, port) =>
  REAL_PORTS.has(port) ? { host: LOCAL, port: local(port) } : null;

const KINDS: [string, TopologyKind][] = [
  ['CLUSTER SLOTS', 'slots'],
  ['CLUSTER SHARDS', 'shards'],
  ['CLUSTER NODES', 'nodes'],
  ['CLUSTER REPLICAS', 'replicas'],
  ['CLUSTER SLAVES', 'replicas'],
];
const kindOf = (command: string): TopologyKind | null =>
  KINDS.find(([p]) => command.startsWith(p))?.[1] ?? null;

/** How many distinct nodes each capture names. */
function expectedNodes(c: Capture, kind: TopologyKind): number {
  if (kind === 'replicas') return 1;
  return c.cluster === 'A' ? 6 : c.cluster === 'B' ? 3 : 1;
}

/** The rewritten reply mentions no real address: no real host, hostname or client port. */
function assertNoLeak(s: string): void {
  assert.ok(!s.includes('127.0.0.1'), 'real IP left');
  assert.ok(!s.includes('::1'), 'real IPv6 left');
  assert.ok(!s.includes('node-27'), 'real hostname left');
  assert.ok(!/(?<![0-9a-f])27[123]0[0-9](?![0-9])/.test(s), 'real port left');
}

/** RESP2 replies must also parse with redis-parser (ioredis's parser). */
function redisParse(s: string): unknown {
  let out: unknown;
  const p = new Parser({
    returnReply: (r) => {
      out = r;
    },
    returnError: (e) => {
      out = e;
    },
    returnFatalError: (e) => {
      throw e;
    },
  });
  p.execute(bytes(s));
  assert.notEqual(out, undefined, 'redis-parser found no whole reply');
  return out;
}

/** Check one rewritten node address against the original one. */
function checkSlots(orig: Ref, out: Ref, policy: string): void {
  const [ro, rn] = [items(orig), items(out)];
  assert.equal(rn.length, ro.length);
  ro.forEach((range, r) => {
    const [a, b] = [items(range), items(rn[r])];
    assert.deepEqual(b.slice(0, 2), a.slice(0, 2), 'slot range kept');
    for (let j = 2; j < a.length; j++) {
      const [n, m] = [items(a[j]), items(b[j])];
      assert.equal(str(m[0]), LOCAL);
      assert.equal(Number(str(m[1])), local(Number(str(n[1]))));
      assert.deepEqual(m[2], n[2], 'node id kept');
      if (n[3] === undefined) continue;
      assert.equal(m[3]!.t, n[3].t, 'map type kept');
      const meta = entries(m[3]);
      const before = entries(n[3]);
      for (const [k, v] of meta) assert.equal(str(v), LOCAL, k);
      const want = before.filter(([k]) => policy === 'local' || k !== 'hostname').map(([k]) => k);
      assert.deepEqual(
        meta.map(([k]) => k),
        want,
      );
    }
  });
}

function checkShards(orig: Ref, out: Ref, policy: string): void {
  items(orig).forEach((shard, s) => {
    const [a, b] = [entries(shard), entries(items(out)[s])];
    assert.deepEqual(
      b.map(([k]) => k),
      a.map(([k]) => k),
    );
    const [na, nb] = [
      items(a.find(([k]) => k === 'nodes')![1]),
      items(b.find(([k]) => k === 'nodes')![1]),
    ];
    na.forEach((node, i) => {
      const [x, y] = [entries(node), entries(nb[i])];
      const want = x.filter(([k]) => k !== 'tls-port' && (policy === 'local' || k !== 'hostname'));
      assert.deepEqual(
        y.map(([k]) => k),
        want.map(([k]) => k),
      );
      for (const [k, v] of y) {
        const old = x.find(([kk]) => kk === k)![1];
        if (k === 'port') assert.equal(Number(str(v)), local(Number(str(old))));
        else if (['ip', 'endpoint', 'hostname'].includes(k)) assert.equal(str(v), LOCAL);
        else assert.deepEqual(v, old, k);
      }
    });
  });
}

function checkNodesText(a: string, b: string, policy: string): void {
  const [la, lb] = [a.split('\n'), b.split('\n')];
  assert.equal(lb.length, la.length);
  la.forEach((line, i) => {
    if (line === '') {
      assert.equal(lb[i], '');
      return;
    }
    const f = line.split(' ');
    const g = lb[i]!.split(' ');
    const m = /^(.*):(\d+)(@\d+)(,.*)?$/.exec(f[1]!)!;
    const name = m[4] !== undefined && policy === 'local' ? `,${LOCAL}` : '';
    assert.equal(g[1], `${LOCAL}:${local(Number(m[2]))}${m[3]}${name}`);
    assert.deepEqual([g[0], ...g.slice(2)], [f[0], ...f.slice(2)], 'other fields kept');
  });
}

function checkNodes(orig: Ref, out: Ref, policy: string): void {
  assert.equal(out.t, orig.t);
  const [a, b] = [str(orig), str(out)];
  if (orig.t === '=') assert.equal(b.slice(0, 4), a.slice(0, 4), 'verbatim format kept');
  checkNodesText(a, b, policy);
}

function checkRewrite(kind: TopologyKind, orig: Ref, out: Ref, policy: string): void {
  if (kind === 'slots') checkSlots(orig, out, policy);
  else if (kind === 'shards') checkShards(orig, out, policy);
  else if (kind === 'nodes') checkNodes(orig, out, policy);
  else
    items(orig).forEach((r, i) => {
      checkNodes(r, items(out)[i]!, policy);
    });
}

describe('captured topology replies', () => {
  for (const c of captureFile().captures) {
    const kind = kindOf(c.command);
    if (kind === null) continue;
    for (const policy of ['drop', 'local'] as const)
      test(`${c.cluster}/${c.variant} RESP${c.resp} ${c.command.slice(0, 20)} (hostname: ${policy})`, () => {
        const reply = bytes(c.reply);
        const ex = extractNodes(kind, reply);
        assert.ok(ex.ok, !ex.ok ? ex.detail : '');
        assert.equal(ex.nodes.length, expectedNodes(c, kind));
        const r = rewriteTopology(kind, reply, map, { hostname: policy });
        assert.ok(r.ok, !r.ok ? r.detail : '');
        assert.equal(r.rewritten, r.nodes);
        assert.ok(r.nodes >= ex.nodes.length);
        const out = text(r.bytes);
        assertNoLeak(out);
        checkRewrite(kind, refDecode(c.reply), refDecode(out), policy);
        if (c.resp === 2) redisParse(out);
        // Idempotent in shape: rewriting the rewritten reply with the identity changes nothing.
        const again = rewriteTopology(kind, r.bytes, (h, p) => ({ host: h, port: p }), {
          hostname: policy,
        });
        assert.ok(again.ok && text(again.bytes) === out);
      });
  }

  test('unknown nodes are left exactly as they were (the same bytes object)', () => {
    for (const c of captureFile().captures) {
      const kind = kindOf(c.command);
      if (kind === null) continue;
      const reply = bytes(c.reply);
      const r = rewriteTopology(kind, reply, () => null);
      assert.ok(r.ok && r.bytes === reply && r.rewritten === 0 && r.nodes > 0);
    }
  });

  test('a partial map rewrites only the nodes it knows', () => {
    const [c] = captureFile().captures.filter(
      (x) => x.command === 'CLUSTER NODES' && x.variant === 'ip',
    );
    const r = rewriteTopology('nodes', bytes(c!.reply), (_h, p) =>
      p === 27101 ? { host: LOCAL, port: 1 } : null,
    );
    assert.ok(r.ok && r.nodes === 6 && r.rewritten === 1);
    const out = text(r.bytes);
    assert.ok(out.includes(`${LOCAL}:1@37101 `) && out.includes('127.0.0.1:27100@37100'));
  });

  test('extracted identities: preferred endpoint, ip, hostname and id for every endpoint type', () => {
    const first = (command: string, variant: string, resp = 2): NodeAddress => {
      const c = captureFile().captures.find(
        (x) => x.command === command && x.variant === variant && x.resp === resp,
      )!;
      const ex = extractNodes(kindOf(command)!, bytes(c.reply));
      assert.ok(ex.ok);
      return ex.nodes.find((n) => n.port === 27100) ?? ex.nodes[0]!;
    };
    const id = first('CLUSTER SLOTS', 'ip').id;
    assert.match(id ?? '', /^[0-9a-f]{40}$/);
    const n = (
      host: string,
      port: number,
      ip: string | null,
      hostname: string | null,
    ): NodeAddress => ({ host, port, ip, hostname, id });
    assert.deepEqual(first('CLUSTER SLOTS', 'ip'), n('127.0.0.1', 27100, '127.0.0.1', null));
    assert.deepEqual(
      first('CLUSTER SLOTS', 'hostnames'),
      n('127.0.0.1', 27100, '127.0.0.1', 'node-27100.internal'),
    );
    assert.deepEqual(
      first('CLUSTER SLOTS', 'preferred-hostname'),
      n('node-27100.internal', 27100, '127.0.0.1', 'node-27100.internal'),
    );
    assert.deepEqual(
      first('CLUSTER SLOTS', 'preferred-hostname-none'),
      n('?', 27100, '127.0.0.1', null),
    );
    assert.deepEqual(
      first('CLUSTER SLOTS', 'unknown-endpoint'),
      n('', 27100, '127.0.0.1', 'node-27100.internal'),
    );
    assert.deepEqual(
      first('CLUSTER SLOTS', 'unknown-endpoint', 3),
      n('', 27100, '127.0.0.1', 'node-27100.internal'),
    );
    assert.deepEqual(
      first('CLUSTER SHARDS', 'unknown-endpoint', 3),
      n('', 27100, '127.0.0.1', 'node-27100.internal'),
    );
    assert.deepEqual(
      first('CLUSTER SHARDS', 'preferred-hostname'),
      n('node-27100.internal', 27100, '127.0.0.1', 'node-27100.internal'),
    );
    assert.deepEqual(first('CLUSTER NODES', 'hostnames', 3), {
      ...n('127.0.0.1', 27100, '127.0.0.1', 'node-27100.internal'),
      flags: ['myself', 'master'],
    });
    const lone = first('CLUSTER NODES', 'lone');
    assert.equal(lone.host, '');
    assert.equal(first('CLUSTER NODES', 'ipv6').host, '::1');
  });
});

describe('exact bytes', () => {
  const id = 'd99b4c2a5e6f7a8b9c0d1e2f3a4b5c6d7e8f1cc6';
  const m: AddressMap = (_h, p) => ({ host: '127.0.0.1', port: p + 1 });

  test('lone node SLOTS: the empty endpoint becomes the local host (RESP2 and RESP3)', () => {
    for (const map0 of ['*0', '%0']) {
      const input = `*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$0\r\n\r\n:7300\r\n$40\r\n${id}\r\n${map0}\r\n`;
      const r = rewriteTopology('slots', bytes(input), m);
      assert.ok(r.ok);
      assert.equal(
        text(r.bytes),
        `*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:7301\r\n$40\r\n${id}\r\n${map0}\r\n`,
      );
    }
  });

  test('unknown-endpoint SLOTS node: null endpoint filled, ip set, hostname dropped, counts fixed', () => {
    const node = (ep: string, map0: string) =>
      `*1\r\n*3\r\n:0\r\n:1\r\n*4\r\n${ep}\r\n:7100\r\n$40\r\n${id}\r\n${map0}\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nhostname\r\n$18\r\nnode-7100.internal\r\n`;
    const want = (map1: string) =>
      `*1\r\n*3\r\n:0\r\n:1\r\n*4\r\n$8\r\n10.0.0.9\r\n:9000\r\n$40\r\n${id}\r\n${map1}\r\n$2\r\nip\r\n$8\r\n10.0.0.9\r\n`;
    const to: AddressMap = () => ({ host: '10.0.0.9', port: 9000 });
    for (const [ep, m0, m1] of [
      ['$-1', '*4', '*2'],
      ['_', '%2', '%1'],
    ] as const) {
      const r = rewriteTopology('slots', bytes(node(ep, m0)), to);
      assert.ok(r.ok);
      assert.equal(text(r.bytes), want(m1));
    }
  });

  test('NODES: verbatim length counts txt:, cport kept, hostname dropped or localised', () => {
    const line = `${id} 127.0.0.1:7105@17105,node-7105.internal slave - 0 1795371474090 1 connected\n`;
    const input = `=${line.length + 4}\r\ntxt:${line}\r\n`;
    const to: AddressMap = () => ({ host: '::1', port: 40001 });
    const drop = `${id} ::1:40001@17105 slave - 0 1795371474090 1 connected\n`;
    const r = rewriteTopology('nodes', bytes(input), to);
    assert.ok(r.ok);
    assert.equal(text(r.bytes), `=${drop.length + 4}\r\ntxt:${drop}\r\n`);
    const keep = `${id} ::1:40001@17105,::1 slave - 0 1795371474090 1 connected\n`;
    const l = rewriteTopology('nodes', bytes(input), to, { hostname: 'local' });
    assert.ok(l.ok);
    assert.equal(text(l.bytes), `=${keep.length + 4}\r\ntxt:${keep}\r\n`);
  });

  test('SHARDS: tls-port dropped; a TLS-only node gets a port after its id', () => {
    const input =
      '*1\r\n%2\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n%4\r\n$2\r\nid\r\n$1\r\nx\r\n$8\r\ntls-port\r\n:7443\r\n$2\r\nip\r\n$1\r\ny\r\n$8\r\nendpoint\r\n$0\r\n\r\n';
    const seen: NodeAddress[] = [];
    const r = rewriteTopology('shards', bytes(input), (_h, _p, n) => {
      seen.push(n);
      return { host: 'L', port: 5 };
    });
    assert.ok(r.ok);
    assert.deepEqual(seen, [{ host: '', port: 7443, ip: 'y', hostname: null, id: 'x' }]);
    assert.equal(
      text(r.bytes),
      '*1\r\n%2\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n%4\r\n$2\r\nid\r\n$1\r\nx\r\n$4\r\nport\r\n:5\r\n$2\r\nip\r\n$1\r\nL\r\n$8\r\nendpoint\r\n$1\r\nL\r\n',
    );
  });

  test('MOVED / ASK: every endpoint form, unbracketed IPv6 out, unknown endpoints untouched', () => {
    const cases: [string, string | null][] = [
      ['-MOVED 12182 127.0.0.1:7102\r\n', '-MOVED 12182 127.0.0.1:7103\r\n'],
      ['-MOVED 12182 node-7102.internal:7102\r\n', '-MOVED 12182 127.0.0.1:7103\r\n'],
      ['-MOVED 12182 ?:7102\r\n', '-MOVED 12182 127.0.0.1:7103\r\n'],
      ['-MOVED 12182 :7102\r\n', '-MOVED 12182 127.0.0.1:7103\r\n'],
      ['-ASK 12182 127.0.0.1:7101\r\n', '-ASK 12182 127.0.0.1:7102\r\n'],
      ['-MOVED 12182 ::1:7202\r\n', '-MOVED 12182 127.0.0.1:7203\r\n'],
      ['-MOVED 1 10.9.9.9:6379\r\n', null],
    ];
    const known: AddressMap = (h, p) =>
      h === '10.9.9.9' ? null : { host: '127.0.0.1', port: p + 1 };
    for (const [line, want] of cases) {
      const r = parseRedirect(bytes(line));
      assert.ok(r !== null, line);
      const out = rewriteRedirect(r, known);
      assert.equal(out === null ? null : text(out), want);
    }
    const v6 = rewriteRedirect(parseRedirect(bytes('-MOVED 5 h:1\r\n'))!, () => ({
      host: 'fd00::7',
      port: 47202,
    }));
    assert.equal(text(v6!), '-MOVED 5 fd00::7:47202\r\n');
  });

  test('captured MOVED/ASK replies rewrite to the local address (hosts "", "?", hostnames, ::1)', () => {
    for (const c of captureFile().captures.filter((x) => /^-(MOVED|ASK) /.test(x.reply))) {
      const r = parseRedirect(bytes(c.reply))!;
      const out = rewriteRedirect(r, map);
      if (r.host === '10.9.9.9') assert.equal(out, null);
      else assert.equal(text(out!), `-${r.kind} ${r.slot} ${LOCAL}:${local(r.port)}\r\n`);
    }
  });
});

describe('EXEC', () => {
  const kindsOf = (c: Capture) => c.queued!.map(kindOf);

  for (const c of captureFile().captures.filter((x) => x.exec !== undefined))
    test(`${c.command} RESP${c.resp}`, () => {
      const kinds = kindsOf(c);
      const exec = bytes(c.exec!);
      const ex = extractExecNodes(kinds, exec);
      assert.ok(ex.ok && ex.nodes.length === 6);
      const r = rewriteExec(kinds, exec, map);
      assert.ok(r.ok, !r.ok ? r.detail : '');
      const out = text(r.bytes);
      assertNoLeak(out);
      const [a, b] = [items(refDecode(c.exec!)), items(refDecode(out))];
      kinds.forEach((k, i) => {
        if (k === null) assert.deepEqual(b[i], a[i]);
        else checkRewrite(k, a[i]!, b[i]!, 'drop');
      });
      if (c.resp === 2) redisParse(out);
      const bad = rewriteExec([...kinds, null], exec, map);
      assert.ok(!bad.ok && bad.reason === 'count-mismatch');
    });

  test('EXECABORT, a WATCH-aborted null and per-command errors are left alone', () => {
    for (const s of [
      '-EXECABORT Transaction discarded because of previous errors.\r\n',
      '*-1\r\n',
      '_\r\n',
    ]) {
      const r = rewriteExec(['slots'], bytes(s), map);
      assert.ok(r.ok && text(r.bytes) === s && r.nodes === 0);
    }
    const r = rewriteExec(['slots', null], bytes('*2\r\n-ERR no\r\n+PONG\r\n'), map);
    assert.ok(r.ok && r.nodes === 0);
  });
});

describe('failures are reported, never thrown', () => {
  const cases: [TopologyKind, string, string][] = [
    ['slots', '*1\r\n*3\r\n:0\r\n', 'truncated'],
    ['slots', '*1\r\nfoo\r\n', 'malformed'],
    ['slots', '+OK\r\n', 'unexpected-shape'],
    ['slots', '*1\r\n*3\r\n:0\r\n:1\r\n:7\r\n', 'unexpected-shape'],
    ['slots', '*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n*0\r\n:1\r\n', 'unexpected-shape'],
    [
      'slots',
      '*1\r\n*3\r\n:0\r\n:1\r\n*4\r\n$1\r\na\r\n:1\r\n$1\r\ni\r\n*1\r\n$2\r\nip\r\n',
      'unexpected-shape',
    ],
    ['slots', '*0\r\n:1\r\n', 'trailing-bytes'],
    ['slots', '*?\r\n.\r\n', 'streamed'],
    ['slots', `${'*1\r\n'.repeat(200)}*0\r\n`, 'too-deep'],
    ['shards', '*1\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n', 'unexpected-shape'],
    ['nodes', '*1\r\n$1\r\na\r\n', 'unexpected-shape'],
    ['nodes', '=3\r\ntxt\r\n', 'unexpected-shape'],
    ['replicas', '$3\r\nabc\r\n', 'unexpected-shape'],
  ];
  for (const [kind, input, reason] of cases)
    test(`${kind} ${JSON.stringify(input.slice(0, 30))} → ${reason}`, () => {
      for (const r of [rewriteTopology(kind, bytes(input), map), extractNodes(kind, bytes(input))])
        assert.equal(!r.ok && r.reason, reason);
    });

  test('error and null replies come back unchanged', () => {
    for (const kind of ['slots', 'shards', 'nodes', 'replicas'] as const)
      for (const s of [
        '-ERR This instance has cluster support disabled\r\n',
        '$-1\r\n',
        '_\r\n',
        '*-1\r\n',
        '!3\r\nerr\r\n',
      ]) {
        const r = rewriteTopology(kind, bytes(s), map);
        assert.ok(r.ok && text(r.bytes) === s);
      }
  });

  test('NODES lines without a usable address are kept and counted as not rewritten', () => {
    const s = 'a b:c@1 master\nno-fields\nx :0@0 handshake\n';
    const r = rewriteTopology('nodes', bytes(`$${s.length}\r\n${s}\r\n`), (_h, p) =>
      p === 0 ? null : { host: 'L', port: 1 },
    );
    assert.ok(r.ok && r.rewritten === 0 && r.nodes === 2);
  });
});

describe('value codec', () => {
  test('decode → encode is the identity on every capture', () => {
    for (const c of captureFile().captures) {
      const stream = c.exec ?? c.reply;
      const d = decodeValue(bytes(stream));
      assert.ok(d.ok, `${c.command}: ${!d.ok ? d.detail : ''}`);
      assert.equal(text(encodeValue(d.value)), stream);
    }
  });

  test('attributes are kept in front of their value, nested ones too', () => {
    for (const s of [
      '|1\r\n+a\r\n:1\r\n|1\r\n+b\r\n:2\r\n+x\r\n',
      '*2\r\n|1\r\n+a\r\n:1\r\n:5\r\n:6\r\n',
    ]) {
      const d = decodeValue(bytes(s));
      assert.ok(d.ok);
      assert.equal(text(encodeValue(d.value)), s);
    }
  });
});
