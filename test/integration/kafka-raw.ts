/**
 * One raw Kafka connection to a listener, for what no client library asks as the tests
 * need: requests encoded with our codec, answers as whole frames, in order.
 */
import { connect, type Socket } from 'node:net';
import { decodeResponse, encodeRequest, KafkaFrameReader, type KafkaApiName, type RequestInput, type ResponseBody } from '../../protocol/kafka/index.js';

export interface RawKafkaConnection {
  socket: Socket;
  frames: Buffer[];
  /** The next answer frame (after its size); rejects once the connection has closed without one. */
  next(): Promise<Buffer>;
  /** Sends one request and decodes its answer (the connection's only request in flight). */
  request<N extends KafkaApiName>(api: N, version: number, body: RequestInput<N>): Promise<ResponseBody<N>>;
}

export async function rawKafkaConnection(address: string): Promise<RawKafkaConnection> {
  const [host, port] = address.split(':');
  const socket = connect({ host: host!, port: Number(port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject); // refused: a broker not listening (yet)
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const reader = new KafkaFrameReader();
  const frames: Buffer[] = [];
  const waiters: Array<() => void> = [];
  let closed = false;
  const wakeAll = () => {
    for (const wake of waiters.splice(0)) wake();
  };
  socket.on('data', (chunk) => {
    frames.push(...reader.push(chunk));
    wakeAll();
  });
  socket.on('close', () => {
    closed = true;
    wakeAll();
  });
  const next = async (): Promise<Buffer> => {
    while (frames.length === 0) {
      if (closed) throw new Error('the connection closed without an answer');
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return frames.shift()!;
  };
  let correlationId = 1000;
  const request = async <N extends KafkaApiName>(api: N, version: number, body: RequestInput<N>): Promise<ResponseBody<N>> => {
    for (const chunk of encodeRequest(api, { apiVersion: version, correlationId: ++correlationId, clientId: 'raw' }, body)) socket.write(chunk);
    return decodeResponse(api, version, await next()).body;
  };
  return { socket, frames, next, request };
}
