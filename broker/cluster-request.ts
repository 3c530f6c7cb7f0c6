/**
 * A broker speaking the client protocol to another broker, for the few calls that cross
 * brokers outside Raft: a new broker registering itself (`--join`), and a partition
 * leader telling the controller that a move has finished. Follows NOT_CONTROLLER to the
 * controller it names.
 */
import { connect } from 'node:net';
import { CLIENT_API_VERSION, decodeResponse, encodeRequest, fromErrorInfo, type Init, type client } from '../protocol/codec.js';
import { FlotillaError } from '../protocol/errors.js';
import { ConnectionType, FrameWriter, readFrames, writeConnectionType } from '../protocol/frame.js';
import { parseHostPort } from './config.js';

type RequestBody = Omit<Init<client.Request>, 'correlationId' | 'apiVersion'>;

/** Sends one request on a fresh connection and returns its response (errors thrown). */
export function requestOnce(address: string, body: RequestBody, timeoutMs: number): Promise<client.Response> {
  const { host, port } = parseHostPort(address, 'broker address');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error instanceof FlotillaError ? error : new FlotillaError('BROKER_NOT_AVAILABLE', `broker ${address} is not reachable: ${error.message}`));
    };
    const timer = setTimeout(() => fail(new FlotillaError('TIMEOUT', `broker ${address} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
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
export async function controllerRequest(addresses: string[], body: RequestBody, timeoutMs: number): Promise<client.Response> {
  const deadline = Date.now() + timeoutMs;
  let address = addresses[0]!;
  let lastError: unknown;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      return await requestOnce(address, body, Math.max(100, Math.min(5000, deadline - Date.now())));
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
