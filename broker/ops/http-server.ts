/**
 * The operations port (`--http-listen`): read-only HTTP for monitoring and orchestration
 * (SPEC section 10). `GET /metrics` (Prometheus text), `GET /livez` (the event loop
 * answers), `GET /readyz` (200, or 503 with the reasons), `GET /v1/cluster/health` (this
 * broker's sight of the cluster), `GET /` (the web console) and `GET /v1/console` (its
 * data: the whole cluster, gathered from every broker). HEAD answers like GET without a
 * body; other methods get 405 and other paths 404.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { clusterHealth, type ClusterHealth } from '../../protocol/health.js';
import { listenAt } from '../server/listen.js';
import type { InterBrokerAccess } from '../cluster-request.js';
import { healthViewOf } from './cluster-view.js';
import { ClusterConsole, type ConsoleDocument } from './console.js';
import { CONSOLE_PAGE } from './console-page.js';
import type { SightSources } from './console-sight.js';
import type { BrokerMetrics } from './metrics.js';
import { checkReadiness, type Readiness, type ReadinessSources } from './readiness.js';

export interface OperationsEndpoints {
  scrape(): Promise<{ contentType: string; body: string }>;
  readiness(): Promise<Readiness>;
  health(): ClusterHealth;
  console(): Promise<ConsoleDocument>;
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

/** The console loads nothing from elsewhere and talks only to this port. */
const CONSOLE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const json = (status: number, value: unknown): Answer => ({ status, contentType: 'application/json', body: JSON.stringify(value) + '\n' });

export class OperationsServer {
  private readonly server = createServer((request, response) => void this.serve(request, response));

  constructor(
    private readonly listen: string,
    private readonly endpoints: OperationsEndpoints,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await listenAt(this.server, this.listen, '--http-listen');
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
    response.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body), 'cache-control': 'no-store', ...(answer.status === 405 ? { allow: 'GET, HEAD' } : {}), ...answer.headers });
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
  '/': () => ({ status: 200, contentType: 'text/html; charset=utf-8', body: CONSOLE_PAGE, headers: { 'content-security-policy': CONSOLE_POLICY, 'x-content-type-options': 'nosniff' } }),
  '/v1/console': async (endpoints) => json(200, await endpoints.console()),
};

/** The operations port of a broker: its metrics, its readiness, its sight of the cluster's health, and the console. */
export function brokerOperations(listen: string, broker: SightSources & ReadinessSources & { metrics: BrokerMetrics; access: InterBrokerAccess }, logger: Logger): OperationsServer {
  const clusterConsole = new ClusterConsole(broker, broker.access);
  return new OperationsServer(
    listen,
    {
      scrape: () => broker.metrics.scrape(),
      readiness: () => checkReadiness(broker),
      health: () => clusterHealth(healthViewOf(broker)),
      console: () => clusterConsole.document(),
    },
    logger,
  );
}
