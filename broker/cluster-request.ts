/**
 * A broker speaking the client protocol to another broker, for the few calls that cross
 * brokers outside Raft: a new broker registering itself (`--join`), and a partition
 * leader telling the controller that a move has finished. Follows NOT_CONTROLLER to the
 * controller it names. With --authn scram the broker first authenticates as the bootstrap
 * user (env FLOTILLA_BOOTSTRAP_USER, a superuser), whose password every broker then has.
 */
import { connect } from 'node:net';
import { CLIENT_API_VERSION, decodeResponse, encodeRequest, fromErrorInfo, type Init, type client } from '../protocol/codec.js';
import { FlotillaError } from '../protocol/errors.js';
import { ConnectionType, FrameWriter, readFrames, writeConnectionType } from '../protocol/frame.js';
import { authenticateScram, type SaslCredentials } from '../protocol/sasl.js';
import { parseHostPort, type BrokerConfig } from './config.js';

type RequestBody = Omit<Init<client.Request>, 'correlationId' | 'apiVersion'>;

/** How this broker authenticates to the others: as the bootstrap user when --authn scram. */
export function interBrokerSasl(config: Pick<BrokerConfig, 'authn' | 'bootstrapUser'>): SaslCredentials | undefined {
  if (config.authn !== 'scram' || !config.bootstrapUser) return undefined;
  return { mechanism: 'scram-sha-256', username: config.bootstrapUser.name, password: config.bootstrapUser.password };
}

/**
 * Sends one request on a fresh connection (after the SASL exchange when `sasl` is given)
 * and returns its response (errors thrown).
 */
export function requestOnce(address: string, body: RequestBody, timeoutMs: number, sasl?: SaslCredentials): Promise<client.Response> {
  const { host, port } = parseHostPort(address, 'broker address');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const writer = new FrameWriter(socket);
    const waiting = new Map<number, { resolve(response: client.Response): void; reject(error: Error): void }>();
    let nextCorrelationId = 1;
    const send = (request: RequestBody): Promise<client.Response> =>
      new Promise((resolveOne, rejectOne) => {
        const correlationId = nextCorrelationId++;
        waiting.set(correlationId, { resolve: resolveOne, reject: rejectOne });
        writer.write(encodeRequest({ ...request, correlationId, apiVersion: CLIENT_API_VERSION }));
      });
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error instanceof FlotillaError ? error : new FlotillaError('BROKER_NOT_AVAILABLE', `broker ${address} is not reachable: ${error.message}`));
    };
    const timer = setTimeout(() => fail(new FlotillaError('TIMEOUT', `broker ${address} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      writeConnectionType(socket, ConnectionType.CLIENT);
      const authenticated = sasl
        ? authenticateScram(sasl, async (step) => {
            const response = await send('handshake' in step ? { saslHandshake: { mechanism: step.handshake } } : { saslAuthenticate: { authBytes: step.authenticate } });
            return response.saslAuthenticate?.authBytes ?? Buffer.alloc(0);
          })
        : Promise.resolve();
      authenticated.then(() => send(body)).then(
        (response) => {
          clearTimeout(timer);
          socket.destroy();
          resolve(response);
        },
        fail,
      );
    });
    socket.on('error', fail);
    readFrames(socket, {
      onFrame: (frame) => {
        const response = decodeResponse(frame);
        const entry = waiting.get(response.correlationId);
        waiting.delete(response.correlationId);
        const error = fromErrorInfo(response.error);
        if (error) entry?.reject(error);
        else entry?.resolve(response);
      },
      onClose: (error) => fail(error ?? new Error('connection closed before the answer')),
    });
  });
}

/**
 * Sends a controller request through any of `addresses`, following NOT_CONTROLLER to the
 * controller and retrying retriable errors until `timeoutMs` passes.
 */
export async function controllerRequest(addresses: string[], body: RequestBody, timeoutMs: number, sasl?: SaslCredentials): Promise<client.Response> {
  const deadline = Date.now() + timeoutMs;
  let address = addresses[0]!;
  let lastError: unknown;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      return await requestOnce(address, body, Math.max(100, Math.min(5000, deadline - Date.now())), sasl);
    } catch (error) {
      lastError = error;
      if (!(error instanceof FlotillaError) || !error.retriable) throw error;
      const leader = error.details.leaderAddress;
      address = error.code === 'NOT_CONTROLLER' && typeof leader === 'string' && leader ? leader : addresses[(attempt + 1) % addresses.length]!;
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** Math.min(attempt, 5))));
    }
  }
  throw lastError instanceof Error ? lastError : new FlotillaError('TIMEOUT', `no controller answered within ${timeoutMs} ms`);
}
