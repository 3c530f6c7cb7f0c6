/**
 * A broker speaking the client protocol to another broker, for the few calls that cross
 * brokers outside Raft: a new broker registering itself (`--join`), its Kafka address, and
 * a partition leader telling the controller that a move has finished. Follows
 * NOT_CONTROLLER to the controller it names. With TLS on, brokers dial each other with
 * mutual TLS (and in plaintext only when the other broker does not speak TLS yet and
 * --tls-allow-plaintext). With --authn scram the broker then authenticates as the bootstrap
 * user (env FLOTILLA_BOOTSTRAP_USER, a superuser), whose password every broker has.
 */
import { CLIENT_API_VERSION, decodeResponse, encodeRequest, fromErrorInfo, type Init, type client } from '../protocol/codec.js';
import { FlotillaError } from '../protocol/errors.js';
import { ConnectionType, FrameWriter, readFrames, writeConnectionType } from '../protocol/frame.js';
import { authenticateScram, type SaslCredentials } from '../protocol/sasl.js';
import { tlsTrustFailure } from '../protocol/tls-errors.js';
import { parseHostPort, type BrokerConfig } from './config.js';
import { BrokerDial, type BrokerTls } from './security/tls.js';

type RequestBody = Omit<Init<client.Request>, 'correlationId' | 'apiVersion'>;

/** How this broker reaches the others: its TLS (none: plaintext) and its SASL credentials (none: no authentication). */
export interface InterBrokerAccess {
  tls?: BrokerTls;
  sasl?: SaslCredentials;
}

/** This broker's access to the others: its TLS, and the bootstrap user when --authn scram. */
export function interBrokerAccess(config: Pick<BrokerConfig, 'authn' | 'bootstrapUser'>, tls: BrokerTls | undefined): InterBrokerAccess {
  const sasl: SaslCredentials | undefined =
    config.authn === 'scram' && config.bootstrapUser ? { mechanism: 'scram-sha-256', username: config.bootstrapUser.name, password: config.bootstrapUser.password } : undefined;
  return { tls, sasl };
}

/** Sends one request on a fresh connection and returns its response (errors thrown). */
export async function requestOnce(address: string, body: RequestBody, timeoutMs: number, access: InterBrokerAccess = {}): Promise<client.Response> {
  const { tls, sasl } = access;
  const target = parseHostPort(address, 'broker address');
  const dial = tls ? tls.dial(target) : new BrokerDial(target);
  try {
    return await exchange(dial, address, body, timeoutMs, sasl);
  } catch (error) {
    if (!(tls?.allowPlaintext && dial.refusedTls)) throw error;
    return exchange(tls.dial(target, true), address, body, timeoutMs, sasl); // that broker has no TLS yet
  }
}

/** The SASL exchange when `sasl` is given, then `body`; resolves with body's response. */
function exchange(dial: BrokerDial, address: string, body: RequestBody, timeoutMs: number, sasl: SaslCredentials | undefined): Promise<client.Response> {
  return new Promise((resolve, reject) => {
    const socket = dial.socket;
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
      if (error instanceof FlotillaError) return reject(error);
      reject(tlsTrustFailure(error, address) ?? new FlotillaError('BROKER_NOT_AVAILABLE', `broker ${address} is not reachable: ${error.message}`));
    };
    const timer = setTimeout(() => fail(new FlotillaError('TIMEOUT', `broker ${address} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once(dial.readyEvent, () => {
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
export async function controllerRequest(addresses: string[], body: RequestBody, timeoutMs: number, access: InterBrokerAccess = {}): Promise<client.Response> {
  const deadline = Date.now() + timeoutMs;
  let address = addresses[0]!;
  let lastError: unknown;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      return await requestOnce(address, body, Math.max(100, Math.min(5000, deadline - Date.now())), access);
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
