/**
 * The operations port (`--http-listen`): read-only HTTP for monitoring and orchestration
 * (SPEC section 10). `GET /metrics` (Prometheus text), `GET /livez` (the event loop
 * answers), `GET /readyz` (200, or 503 with the reasons), `GET /v1/cluster/health` (this
 * broker's sight of the cluster). HEAD answers like GET without a body; other methods get
 * 405 and other paths 404.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { clusterHealth, type ClusterHealth } from '../../protocol/health.js';
import { parseHostPort } from '../config.js';
import { healthViewOf, type ClusterSight } from './cluster-view.js';
import type { BrokerMetrics } from './metrics.js';
import { checkReadiness, type Readiness, type ReadinessSources } from './readiness.js';

export interface OperationsEndpoints {
  scrape(): Promise<{ contentType: string; body: string }>;
  readiness(): Promise<Readiness>;
  health(): ClusterHealth;
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

const json = (status: number, value: unknown): Answer => ({ status, contentType: 'application/json', body: JSON.stringify(value) + '\n' });

export class OperationsServer {
  private readonly server = createServer((request, response) => void this.serve(request, response));

  constructor(
    private readonly listen: string,
    private readonly endpoints: OperationsEndpoints,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const { host, port } = parseHostPort(this.listen, '--http-listen');
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.logger.info({ httpListen: this.listen }, 'operations endpoints listening');
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let answer: Answer;
    try {
      answer = await this.answer(request);
    } catch (error) {
      this.logger.warn({ err: error, path: request.url }, 'an operations endpoint failed');
      answer = json(500, { error: (error as Error).message });
    }
    response.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body), 'cache-control': 'no-store', ...(answer.status === 405 ? { allow: 'GET, HEAD' } : {}) });
    response.end(request.method === 'HEAD' ? undefined : answer.body);
  }

  private async answer(request: IncomingMessage): Promise<Answer> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const route = ROUTES[path];
    if (!route) return json(404, { error: `no such endpoint: ${path}` });
    if (request.method !== 'GET' && request.method !== 'HEAD') return json(405, { error: 'read-only: only GET and HEAD' });
    return route(this.endpoints);
  }
}

const ROUTES: Record<string, (endpoints: OperationsEndpoints) => Promise<Answer> | Answer> = {
  '/metrics': async (endpoints) => ({ status: 200, ...(await endpoints.scrape()) }),
  '/livez': () => ({ status: 200, contentType: 'text/plain', body: 'ok\n' }),
  '/readyz': async (endpoints) => {
    const readiness = await endpoints.readiness();
    return readiness.ready ? json(200, readiness) : json(503, readiness);
  },
  '/v1/cluster/health': (endpoints) => json(200, endpoints.health()),
};

/** The operations port of a broker: its metrics, its readiness and its sight of the cluster's health. */
export function brokerOperations(listen: string, broker: ClusterSight & ReadinessSources & { metrics: BrokerMetrics }, logger: Logger): OperationsServer {
  return new OperationsServer(listen, { scrape: () => broker.metrics.scrape(), readiness: () => checkReadiness(broker), health: () => clusterHealth(healthViewOf(broker)) }, logger);
}
