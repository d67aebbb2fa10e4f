/**
 * The optional operations endpoint (--metrics): GET /metrics (Prometheus text), /healthz (the
 * process is alive and its event loop answers), /readyz (listening and not draining; with
 * --ready-probe, the target also accepts a TCP connection). Off unless asked for.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';

/** Where /metrics comes from: a prom-client Registry, or a --workers aggregate (aggregate.ts). */
export interface MetricsSource {
  readonly contentType: string;
  /** The Prometheus text; a rejection answers 500. */
  metrics(): Promise<string>;
}

/** What /readyz asks. */
export interface Readiness {
  /** Listening and not draining (with --workers: some worker listens and no SIGTERM yet). */
  ready(): boolean;
  /** Optional deeper check (target reachable); resolves to an error text or null. */
  probe?: () => Promise<string | null>;
}

/**
 * Start the HTTP endpoint on host:port, answering /metrics from `metrics` and /readyz from
 * `readiness`; rejects with the OS error if it cannot listen.
 */
export async function startOpsServer(
  host: string,
  port: number,
  metrics: MetricsSource,
  readiness: Readiness,
  log: Logger,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return reply(200, 'ok\n');
    if (path === '/readyz') {
      if (!readiness.ready()) return reply(503, 'not ready: not listening or draining\n');
      if (!readiness.probe) return reply(200, 'ready\n');
      void readiness
        .probe()
        .then((err) => (err === null ? reply(200, 'ready\n') : reply(503, `not ready: ${err}\n`)));
      return;
    }
    if (path === '/metrics') {
      void metrics.metrics().then(
        (text) => reply(200, text, metrics.contentType),
        (err: Error) => reply(500, `metrics failed: ${err.message}\n`),
      );
      return;
    }
    reply(404, 'not found: try /metrics, /healthz or /readyz\n');
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.warn({ err: err.message }, 'metrics endpoint error'));
  server.unref();
  return server;
}
