// Goal: the -d allow-list admits only real members: a CLUSTER NODES entry that a CLUSTER MEET just
// named (flag `handshake`, listed whether or not anything answers there) or one without an address
// (`noaddr`) is never a member, so a client allowed to run CLUSTER MEET cannot widen the list.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClusterNodes } from '../../../src/cluster/nodes-reply.js';

const ID = (n: number): string => n.toString(16).padStart(40, '0');

test('entries flagged handshake or noaddr are not members; the others are', () => {
  const text =
    `${ID(1)} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\n` +
    `${ID(2)} 10.77.0.9:6379@16379 handshake - 1700000000000 0 0 disconnected\n` +
    `${ID(3)} :0@0 master,fail,noaddr - 1700000000000 0 2 disconnected\n` +
    `${ID(4)} 127.0.0.1:7001@17001 slave ${ID(1)} 0 1700000000000 1 connected\n`;
  assert.deepEqual(parseClusterNodes(text, '127.0.0.1'), [
    { host: '127.0.0.1', port: 7000 },
    { host: '127.0.0.1', port: 7001 },
  ]);
});

test('a failed master keeps its place (it may come back); only handshake and noaddr are refused', () => {
  const text = `${ID(5)} 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected 0-100\n`;
  assert.deepEqual(parseClusterNodes(text, '127.0.0.1'), [{ host: '127.0.0.1', port: 7002 }]);
});
