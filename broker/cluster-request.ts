/**
 * A broker speaking the client protocol to another broker, for the few calls that cross
 * brokers outside Raft: a new broker registering itself (`--join`), and a partition
 * leader telling the controller that a move has finished. Follows NOT_CONTROLLER to the
 * controller it names. With TLS on, brokers dial each other with mutual TLS (and in
 * plaintext only when the other broker does not speak TLS yet and --tls-allow-plaintext).
 */
import { CLIENT_API_VERSION, decodeResponse, encodeRequest, fromErrorInfo, type Init, type client } from '../protocol/codec.js';
import { FlotillaError } from '../protocol/errors.js';
import { ConnectionType, FrameWriter, readFrames, writeConnectionType } from '../protocol/frame.js';
import { tlsTrustFailure } from '../protocol/tls-errors.js';
import { parseHostPort } from './config.js';
import { BrokerDial, type BrokerTls } from './security/tls.js';

type RequestBody = Omit<Init<client.Request>, 'correlationId' | 'apiVersion'>;

/** Sends one request on a fresh connection and returns its response (errors thrown). */
export async function requestOnce(address: string, body: RequestBody, timeoutMs: number, tls?: BrokerTls): Promise<client.Response> {
  const target = parseHostPort(address, 'broker address');
  const dial = tls ? tls.dial(target) : new BrokerDial(target);
  try {
    return await exchange(dial, address, body, timeoutMs);
  } catch (error) {
    if (!(tls?.allowPlaintext && dial.refusedTls)) throw error;
    return exchange(tls.dial(target, true), address, body, timeoutMs); // that broker has no TLS yet
  }
}

function exchange(dial: BrokerDial, address: string, body: RequestBody, timeoutMs: number): Promise<client.Response> {
  return new Promise((resolve, reject) => {
    const socket = dial.socket;
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error instanceof FlotillaError) return reject(error);
      reject(tlsTrustFailure(error, address) ?? new FlotillaError('BROKER_NOT_AVAILABLE', `broker ${address} is not reachable: ${error.message}`));
    };
    const timer = setTimeout(() => fail(new FlotillaError('TIMEOUT', `broker ${address} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once(dial.readyEvent, () => {
      writeConnectionType(socket, ConnectionType.CLIENT);
      new FrameWriter(socket).write(encodeRequest({ ...body, correlationId: 1, apiVersion: CLIENT_API_VERSION }));
    });
    socket.on('error', fail);
    readFrames(socket, {
      onFrame: (frame) => {
        clearTimeout(timer);
        socket.destroy();
        const response = decodeResponse(frame);
        const error = fromErrorInfo(response.error);
        if (error) reject(error);
        else resolve(response);
      },
      onClose: (error) => fail(error ?? new Error('connection closed before the answer')),
    });
  });
}

/**
 * Sends a controller request through any of `addresses`, following NOT_CONTROLLER to the
 * controller and retrying retriable errors until `timeoutMs` passes.
 */
export async function controllerRequest(addresses: string[], body: RequestBody, timeoutMs: number, tls?: BrokerTls): Promise<client.Response> {
  const deadline = Date.now() + timeoutMs;
  let address = addresses[0]!;
  let lastError: unknown;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      return await requestOnce(address, body, Math.max(100, Math.min(5000, deadline - Date.now())), tls);
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
