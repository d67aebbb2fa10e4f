/**
 * Two IpcEndpoints joined in memory, like a primary and one worker: each message is cloned (as
 * IPC serialises it) and delivered asynchronously, in order; a socket handle is passed as is.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { IpcEndpoint } from '../../../src/daemon/ipc.js';

/** An endpoint pair; `cut()` makes every later send fail, as a dead worker's channel does. */
export function memoryPair(): [IpcEndpoint, IpcEndpoint] & { cut(): void } {
  const sides = [new EventEmitter(), new EventEmitter()] as const;
  let open = true;
  const end = (self: EventEmitter, other: EventEmitter): IpcEndpoint => ({
    send(message, handle, done) {
      if (!open) throw new Error('channel closed');
      const copy: unknown = structuredClone(message);
      setImmediate(() => {
        other.emit('message', copy, handle);
        done?.(null);
      });
    },
    listen(fn) {
      const f = (m: unknown, h: Socket | undefined): void => fn(m, h);
      self.on('message', f);
      return () => self.off('message', f);
    },
  });
  const pair = [end(sides[0], sides[1]), end(sides[1], sides[0])] as [IpcEndpoint, IpcEndpoint] & {
    cut(): void;
  };
  pair.cut = () => {
    open = false;
  };
  return pair;
}
