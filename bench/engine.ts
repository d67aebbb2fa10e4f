/**
 * Part 7, engine: what the packet crypto alone costs per request, with no socket, stream or
 * event loop around it. One GET exchange as redis-benchmark makes it (a 37-byte request, a 9-byte
 * reply) is sealed and opened with the node engine, under spiped framing and compact framing;
 * per request each end seals one message and opens one. Measured as process CPU time over many
 * exchanges, so the figure is comparable with the redis part's CPU per request of each end:
 * node-relay's CPU per request (no crypto) plus this is the floor of a Node tunnel end that does
 * this crypto, before any framing glue.
 */
import { randomBytes } from 'node:crypto';
import { getEngine } from '../src/crypto/engines.js';
import { CompactOpener, CompactSealer } from '../src/crypto/compact.js';
import { COMPACT_DEFAULT_BUCKET, KEY_LEN } from '../src/crypto/sizes.js';
import type { Context } from './context.js';
import { addValue, type Row, type Table } from './report.js';

/** `*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n`, as redis-benchmark -t get sends it. */
const REQUEST = Buffer.from('*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n');
/** `$3\r\nxxx\r\n`: the reply to it with redis-benchmark's default 3-byte values. */
const REPLY = Buffer.from('$3\r\nxxx\r\n');
/** Unmeasured exchanges first, so V8 has compiled the path being measured. */
const WARMUP = 20_000;

/** One direction's seal and open: returns a function that carries `plain` through both. */
type Direction = (plain: Uint8Array) => void;

function spipedDirection(): Direction {
  const engine = getEngine('node');
  const [e, h] = [randomBytes(KEY_LEN), randomBytes(KEY_LEN)];
  const sealer = engine.sealer(e, h);
  const opener = engine.opener(e, h);
  let got = 0;
  const onPlain = (p: Buffer): void => {
    got += p.length;
  };
  return (plain) => {
    if (opener.openEach(sealer.seal(plain), onPlain) !== null || got === 0)
      throw new Error('bench engine: a packet did not open');
    got = 0;
  };
}

function compactDirection(): Direction {
  const engine = getEngine('node');
  const [e, h] = [randomBytes(KEY_LEN), randomBytes(KEY_LEN)];
  const sealer = new CompactSealer(engine.frameCipher(e, h), COMPACT_DEFAULT_BUCKET);
  let got = 0;
  const opener = new CompactOpener(engine.frameCipher(e, h), (p) => {
    got += p.length;
  });
  return (plain) => {
    if (opener.push(sealer.seal(plain)) !== null || got === 0)
      throw new Error('bench engine: a frame did not open');
    got = 0;
  };
}

/** CPU µs per request per end over `n` exchanges (each end: one seal and one open). */
function measure(make: () => Direction, n: number): number {
  const up = make();
  const down = make();
  for (let i = 0; i < WARMUP; i++) {
    up(REQUEST);
    down(REPLY);
  }
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    up(REQUEST);
    down(REPLY);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n / 2;
}

/** Run the engine part: rounds × (spiped framing, compact framing). */
export async function runEngine(ctx: Context): Promise<Table> {
  const n = Math.max(10_000, ctx.settings.redisRequests);
  const values: Row['values'] = {};
  for (let r = 0; r < ctx.settings.rounds; r++) {
    const spiped = measure(spipedDirection, n);
    const compact = measure(compactDirection, n);
    addValue(values, 'cloakpipe', spiped);
    addValue(values, 'cloakpipe compact', compact);
    ctx.progress(
      `engine round ${r + 1}/${ctx.settings.rounds}: ${spiped.toFixed(2)} µs spiped framing, ${compact.toFixed(2)} µs compact, per request per end`,
    );
    await new Promise((resolve) => setImmediate(resolve));
  }
  return {
    part: 'engine',
    title: `engine: packet crypto alone per GET request per end, node engine (${n} exchanges, ${ctx.settings.rounds} round${ctx.settings.rounds > 1 ? 's' : ''})`,
    columns: ['cloakpipe', 'cloakpipe compact'],
    ratio: { num: 'cloakpipe compact', den: 'cloakpipe', label: 'compact/spiped framing' },
    rows: [
      {
        label: 'seal + open, GET (37 B request, 9 B reply)',
        unit: 'µs CPU/req/end',
        better: 'lower',
        values,
      },
    ],
    notes: [
      'In-process, no sockets: each end seals one message and opens one per request (the -e end seals the request and opens the reply; the -d end the reverse).',
      "Compare with the redis part's CPU per request of each end: node-relay's figure (no crypto) plus this one is the floor for a Node tunnel end doing this crypto, before any framing glue; spiped's figure includes its own crypto.",
    ],
  };
}
