// Bad input at the protocol layer: every case ends in a typed FlotillaError (or a closed
// connection), never a crash, a hang, or an allocation of the size an attacker claims.
import t from 'tap';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { decodePeerMessage, decodeRequest, decodeResponse, encodeRequest, encodePeerMessage } from '../../protocol/codec.js';
import { FlotillaError } from '../../protocol/errors.js';
import { toRaftMessage } from '../../broker/transport/raft-messages.js';
import { ConnectionType, encodeFrame, FrameDecoder, FrameWriter, readFrames, routeConnection, writeConnectionType, type FrameOptions } from '../../protocol/frame.js';

interface Run {
  source: PassThrough;
  frames: Buffer[];
  closed: Promise<Error | null>;
}

function open(options: Partial<FrameOptions> = {}): Run {
  const source = new PassThrough();
  const frames: Buffer[] = [];
  const closed = new Promise<Error | null>((resolve) => {
    readFrames(source, { onFrame: (f) => frames.push(Buffer.from(f)), onClose: resolve }, options);
  });
  return { source, frames, closed };
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

function isCode(error: unknown, code: string): boolean {
  return error instanceof FlotillaError && error.code === code;
}

t.test('a length above the limit is refused on the prefix alone, without buffering', async (t) => {
  for (const claimed of [16 * 1024 * 1024 + 1, 1024 * 1024 * 1024, 2 ** 35]) {
    const before = process.memoryUsage().arrayBuffers;
    const run = open();
    run.source.write(varint(claimed)); // no body byte follows, and the stream stays open
    const error = await run.closed;
    t.ok(isCode(error, 'FRAME_TOO_LARGE'), `${claimed} bytes: ${String(error)}`);
    t.ok(run.source.destroyed, 'the source is destroyed');
    t.ok(process.memoryUsage().arrayBuffers - before < 4 * 1024 * 1024, 'memory did not jump');
  }
  const small = open({ maxFrameBytes: 100 });
  small.source.write(Buffer.concat([encodeFrame(Buffer.alloc(100, 1)), varint(101), Buffer.alloc(101)]));
  t.ok(isCode(await small.closed, 'FRAME_TOO_LARGE'), 'limit + 1 is refused');
  t.equal(small.frames.length, 1, 'the complete frame before the bad prefix was delivered');
});

t.test('a varint prefix that overflows is FRAME_TOO_LARGE, not a synchronous throw', async (t) => {
  for (const prefix of [Buffer.alloc(10, 0xff), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x00])]) {
    const run = open();
    t.doesNotThrow(() => run.source.write(prefix));
    t.ok(isCode(await run.closed, 'FRAME_TOO_LARGE'), prefix.toString('hex'));
  }
});

t.test('EOF inside a frame is INVALID_REQUEST; EOF between frames is clean', async (t) => {
  const inBody = open();
  inBody.source.end(Buffer.concat([encodeFrame(Buffer.from('whole')), varint(100), Buffer.alloc(50)]));
  t.ok(isCode(await inBody.closed, 'INVALID_REQUEST'));
  t.equal(inBody.frames.length, 1);
  const inPrefix = open();
  inPrefix.source.end(Buffer.from([0x80]));
  t.ok(isCode(await inPrefix.closed, 'INVALID_REQUEST'));
  const clean = open();
  clean.source.end(Buffer.concat([encodeFrame(Buffer.alloc(0)), encodeFrame(Buffer.from('x'))]));
  t.equal(await clean.closed, null);
  t.same(clean.frames.map(String), ['', 'x'], 'zero-length frames are delivered, not dropped');
});

t.test('a frame not finished in time, or no frame at all, is TIMEOUT', async (t) => {
  // The decoder's timers are unref'd (a socket keeps a real process alive); a PassThrough does not.
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const slow = open({ frameTimeoutMs: 50 });
  slow.source.write(encodeFrame(Buffer.from('ok')));
  slow.source.write(Buffer.concat([varint(10), Buffer.alloc(3)]));
  const slowError = await slow.closed;
  t.ok(isCode(slowError, 'TIMEOUT'));
  t.equal((slowError as FlotillaError).details.timeout, 'frame');
  t.equal(slow.frames.length, 1);
  const idle = open({ idleTimeoutMs: 50 });
  const idleError = await idle.closed;
  t.ok(isCode(idleError, 'TIMEOUT'));
  t.equal((idleError as FlotillaError).details.timeout, 'idle');
  const busy = open({ idleTimeoutMs: 80, frameTimeoutMs: 0 });
  const timer = setInterval(() => busy.source.write(encodeFrame(Buffer.from('tick'))), 20);
  await new Promise((resolve) => setTimeout(resolve, 200));
  clearInterval(timer);
  t.ok(busy.frames.length >= 5, 'a connection that keeps sending frames stays open');
  busy.source.end();
  t.equal(await busy.closed, null);
});

t.test('invalid limits are INVALID_CONFIG naming the fix', async (t) => {
  for (const options of [{ maxFrameBytes: 0 }, { maxFrameBytes: 2 ** 31 }, { frameTimeoutMs: -1 }, { idleTimeoutMs: 1.5 }]) {
    t.throws(() => new FrameDecoder(options), { code: 'INVALID_CONFIG' }, JSON.stringify(options));
  }
});

t.test('a frame handler that throws fails that connection with its error', async (t) => {
  const source = new PassThrough();
  const closed = new Promise<Error | null>((resolve) => {
    readFrames(source, { onFrame: (f) => decodeRequest(f), onClose: resolve });
  });
  source.write(encodeFrame(Buffer.from([0x08, 0x05, 0x52, 0xff, 0xff, 0xff, 0xff, 0x0f])));
  const error = await closed;
  t.ok(isCode(error, 'INVALID_REQUEST'));
  t.equal((error as FlotillaError).details.correlationId, 5, 'the correlation id is read so the broker can answer');
});

t.test('property: random bytes into the frame decoder end in frames or a typed error', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), async (chunks) => {
      const run = open({ maxFrameBytes: 1000 });
      for (const chunk of chunks) if (!run.source.destroyed) run.source.write(chunk);
      if (!run.source.destroyed) run.source.end();
      const error = await run.closed;
      assert.ok(error === null || isCode(error, 'FRAME_TOO_LARGE') || isCode(error, 'INVALID_REQUEST'), String(error));
    }),
    { numRuns: 300 },
  );
  t.pass('300 random streams');
});

t.test('property: random bytes into the envelope decoders are INVALID_REQUEST or decode', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      for (const decode of [decodeRequest, decodeResponse]) {
        try {
          decode(bytes);
        } catch (e) {
          assert.ok(isCode(e, 'INVALID_REQUEST'), String(e));
        }
      }
      try {
        const message = decodePeerMessage(bytes);
        for (const raft of message.raft?.messages ?? []) toRaftMessage(raft);
      } catch (e) {
        assert.ok(isCode(e, 'INVALID_REQUEST') || isCode(e, 'CORRUPT_BATCH'), String(e));
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random frames');
});

t.test('hostile protobuf: nested groups, huge lengths, entries that are not batches', async (t) => {
  t.throws(() => decodeRequest(Buffer.alloc(100_000, 0x0b)), { code: 'INVALID_REQUEST' }, '100k nested start-group tags');
  t.throws(() => decodeRequest(Buffer.concat([Buffer.from([0x5a]), varint(2 ** 31)])), { code: 'INVALID_REQUEST' }, 'a length-delimited field claiming 2 GiB');
  const notABatch = decodePeerMessage(encodePeerMessage({ raft: { messages: [{ group: 1, type: 5, hasEntries: true, entries: [Buffer.alloc(80, 7)] }] } }));
  t.throws(() => toRaftMessage(notABatch.raft!.messages[0]!), { code: 'CORRUPT_BATCH' });
  const request = decodeRequest(encodeRequest({ correlationId: 1, produce: { acks: 99 as never } }));
  t.equal(request.produce!.acks, 99, 'unknown enum values pass through: the broker validates them');
});

t.test('over TCP: a wrong first byte or an oversized frame closes that connection only', async (t) => {
  const serverErrors: string[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    routeConnection(
      socket,
      {
        client: (s) => {
          const writer = new FrameWriter(s);
          readFrames(s, { onFrame: (f) => writer.write(f), onClose: (e) => e && serverErrors.push((e as FlotillaError).code) }, { maxFrameBytes: 1024 });
        },
        peer: (s) => s.destroy(),
        rejected: (_s, reason) => serverErrors.push(reason),
      },
      200,
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as net.AddressInfo;

  const connect = async (): Promise<net.Socket> => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {}); // a reset is one way of being closed
    await once(socket, 'connect');
    return socket;
  };
  const closes = (socket: net.Socket): Promise<unknown> => once(socket, 'close');

  const healthy = await connect();
  writeConnectionType(healthy, ConnectionType.CLIENT);

  const wrong = await connect();
  wrong.write(Buffer.from([0x07, 0x01, 0x02]));
  await closes(wrong);

  const silent = await connect();
  await closes(silent); // no first byte within 200 ms

  const oversized = await connect();
  writeConnectionType(oversized, ConnectionType.CLIENT);
  oversized.write(varint(1025));
  await closes(oversized);

  t.match(serverErrors, [/unknown connection type byte 0x07/, /no connection type byte within 200 ms/, 'FRAME_TOO_LARGE']);

  // The healthy connection still echoes after all that.
  healthy.write(encodeFrame(Buffer.from('still here')));
  const echoed = await new Promise<string>((resolve) => {
    readFrames(healthy, { onFrame: (f) => resolve(f.toString()) });
  });
  t.equal(echoed, 'still here');
  healthy.destroy();
});
