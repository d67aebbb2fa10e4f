#!/usr/bin/env node
// Writes compact-frames.json: compact frames (DESIGN.md §9) built straight from the wire format
// with node:crypto's one-shot AES-256-CTR and HMAC, independent of src/. Fixed keys and inputs, so
// re-running it gives the same file. Usage: node test/vectors/compact-frames.mjs > test/vectors/compact-frames.json
import { createCipheriv, createHmac } from 'node:crypto';

const MAX = 16384;
const seq = (n, from) => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));
const e = seq(32, 0x00);
const h = seq(32, 0x20);

function frames(bucket, messages) {
  // One CTR stream over the encrypted parts of every frame of the direction.
  const plain = [];
  for (const m of messages)
    for (let off = 0; off < m.length; off += MAX) {
      const data = m.subarray(off, off + MAX);
      const body = Math.min(MAX, Math.ceil(data.length / bucket) * bucket);
      const pt = Buffer.alloc(4 + body);
      pt.writeUInt16BE(body, 0);
      pt.writeUInt16BE(data.length, 2);
      data.copy(pt, 4);
      plain.push(pt);
    }
  const ctr = createCipheriv('aes-256-ctr', e, Buffer.alloc(16));
  const wire = plain.map((pt, fnum) => {
    const ct = ctr.update(pt);
    const num = Buffer.alloc(8);
    num.writeBigUInt64BE(BigInt(fnum));
    return Buffer.concat([ct, createHmac('sha256', h).update(ct).update(num).digest()]);
  });
  return Buffer.concat(wire).toString('hex');
}

const cases = [
  { name: 'one byte, bucket 64', bucket: 64, messages: [seq(1, 0x41)] },
  {
    name: 'GET-sized, bucket 64',
    bucket: 64,
    messages: [Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n')],
  },
  { name: 'bucket boundary 64/65, bucket 64', bucket: 64, messages: [seq(64, 1), seq(65, 2)] },
  { name: 'odd bucket 100', bucket: 100, messages: [seq(7, 3), seq(250, 4)] },
  { name: 'smallest bucket 16', bucket: 16, messages: [seq(17, 5), seq(3, 6)] },
  { name: 'two frames from one message, bucket 4096', bucket: 4096, messages: [seq(MAX + 5, 7)] },
  { name: 'bucket = cap', bucket: MAX, messages: [seq(2, 8)] },
];
const out = {
  source: 'test/vectors/compact-frames.mjs (node:crypto AES-256-CTR + HMAC-SHA256, DESIGN.md §9)',
  e: e.toString('hex'),
  h: h.toString('hex'),
  cases: cases.map((c) => ({
    name: c.name,
    bucket: c.bucket,
    messages: c.messages.map((m) => m.toString('hex')),
    wire: frames(c.bucket, c.messages),
  })),
};
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
