// Goal: a socket dialled with static reads (every read lands in one shared buffer) carries a
// stream exactly through a Pipe whose transform passes views of that buffer straight on, into a
// sink that stalls: the pipe copies what waits, the source is paused while the sink is full and
// resumed on drain, and a second socket reading at the same time does not corrupt the first.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { dial, isStaticRead } from '../../../src/pipe/dial.js';
import { Pipe, type Emit } from '../../../src/pipe/pipe.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A server that writes `payload` to each connection, then ends it. */
async function sender(payload: Buffer): Promise<Server> {
  const srv = createServer((c) => c.end(payload));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}

/** Pipe the dialled socket into a sink read slowly; resolve with what came out. */
async function carry(port: number, stats: { views: number; pauses: number }): Promise<Buffer> {
  const ep = { kind: 'tcp', host: '127.0.0.1', port, family: 4 } as const;
  const s = await dial([ep], { keepAlive: false }, new AbortController().signal);
  const sink = new PassThrough({ highWaterMark: 4096 });
  const origPause = s.pause.bind(s);
  s.pause = () => {
    stats.pauses++;
    return origPause();
  };
  const out: Buffer[] = [];
  const passThrough = {
    push(chunk: Buffer, emit: Emit): void {
      if (isStaticRead(chunk)) stats.views++;
      emit(chunk); // a view of the shared buffer: the pipe must copy it before writing
    },
  };
  const ended = new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const drainSlowly = (): void => {
      let c: Buffer | null;
      while ((c = sink.read() as Buffer | null) !== null) out.push(c);
      timer = setTimeout(drainSlowly, 2);
    };
    sink.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    drainSlowly();
  });
  const pipe = new Pipe(s, sink, passThrough, { onError: (err) => assert.fail(String(err)) });
  pipe.start();
  await ended;
  s.destroy();
  return Buffer.concat(out);
}

test('static reads through a pipe into a slow sink: exact bytes, paused and resumed', async () => {
  const a = randomBytes(3 * 1024 * 1024);
  const b = randomBytes(3 * 1024 * 1024);
  const sa = await sender(a);
  const sb = await sender(b);
  const stats = { views: 0, pauses: 0 };
  const [ga, gb] = await Promise.all([
    carry((sa.address() as AddressInfo).port, stats),
    carry((sb.address() as AddressInfo).port, stats),
  ]);
  sa.close();
  sb.close();
  assert.equal(sha(ga), sha(a));
  assert.equal(sha(gb), sha(b));
  assert.ok(stats.views > 0, 'the transform saw views of the shared buffer');
  assert.ok(stats.pauses > 2, `the slow sink paused the source (${stats.pauses} pauses)`);
});
