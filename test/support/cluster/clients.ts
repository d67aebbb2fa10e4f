/**
 * Drivers for cluster tests: smart clients (ioredis, node-redis) pointed at the -e end only, and a
 * raw round trip whose replies are framed by the RESP layer cloakpipe itself uses.
 */
import { connect } from 'node:net';
import { createCluster, type RedisClusterOptions, type RedisClusterType } from '@redis/client';
import { Cluster, type ClusterOptions as ClusterOptionsIoredis } from 'ioredis';
import { decodeValue } from '../../../src/resp/index.js';
import type { TunnelPair } from './tunnel.js';

/** An ioredis Cluster whose only seed is the -e end (it learns every other node from replies). */
export function ioredisCluster(
  fx: Pick<TunnelPair, 'eHost' | 'ePort'>,
  options: ClusterOptionsIoredis = {},
): Cluster {
  return new Cluster([{ host: fx.eHost, port: fx.ePort }], {
    slotsRefreshTimeout: 3000,
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    retryDelayOnTryAgain: 100,
    ...options,
  });
}

/** A node-redis v5 cluster client whose only root node is the -e end. */
export function nodeRedisCluster(
  fx: Pick<TunnelPair, 'eHost' | 'ePort'>,
  RESP: 2 | 3,
  options: Partial<RedisClusterOptions> = {},
): RedisClusterType {
  return createCluster({
    rootNodes: [{ socket: { host: fx.eHost, port: fx.ePort } }],
    RESP,
    ...options,
  }) as unknown as RedisClusterType;
}

/** Resolves once `c` has emitted 'ready'; rejects on 'error' before that or after `ms`. */
export function ioredisReady(c: Cluster, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (c.status === 'ready') return resolve();
    const t = setTimeout(() => reject(new Error(`ioredis Cluster not ready after ${ms} ms`)), ms);
    c.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * Connect to `host:port`, write `payload`, and collect what comes back until `done(text)` is true
 * (or the peer closes); rejects after `ms`.
 */
export function rawRoundTrip(
  host: string,
  port: number,
  payload: string,
  done: (text: string) => boolean,
  ms = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let text = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(
        new Error(
          `no complete reply from ${host}:${port} in ${ms} ms; got ${JSON.stringify(text)}`,
        ),
      );
    }, ms);
    const finish = (): void => {
      clearTimeout(t);
      s.destroy();
      resolve(text);
    };
    s.on('connect', () => s.write(payload));
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) finish();
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('close', finish);
  });
}

/**
 * True when `text` (latin1) holds one complete RESP2/RESP3 value (perhaps followed by more bytes),
 * as src/resp decodes it; a value cut short, malformed or streamed is not complete.
 */
export function respComplete(text: string): boolean {
  const r = decodeValue(Buffer.from(text, 'latin1'));
  return r.ok || r.reason === 'trailing-bytes';
}
