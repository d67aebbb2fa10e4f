/**
 * Worker thread for EphemeralPool: answers each message `n` with n fresh key pairs, one message
 * each, the exponent's memory transferred (not copied) to the main thread. Holds no state.
 */
import { parentPort } from 'node:worker_threads';
import { makeEphemeralKeyParts } from '../crypto/dh.js';

parentPort?.on('message', (n: number) => {
  for (let i = 0; i < n; i++) {
    const { exponent, publicValue } = makeEphemeralKeyParts();
    // Own ArrayBuffers, so the transfer moves exactly these bytes and leaves no copy here.
    const exp = new Uint8Array(exponent);
    exponent.fill(0);
    const y = new Uint8Array(publicValue);
    parentPort!.postMessage({ exponent: exp, publicValue: y }, [exp.buffer, y.buffer]);
  }
});
