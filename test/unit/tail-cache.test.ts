/**
 * The tail cache (broker/storage/tail-cache.ts): a log serves its newest batches from
 * memory, the broker-wide budget drops the oldest appends first across logs, and entries
 * from a peer are checked once, on receipt (a bad one is dropped, not the connection).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import t from 'tap';
import { batchBounds, buildBatch, patchBatch, verifyBatch } from '../../protocol/batch.js';
import { decodePeerMessage } from '../../protocol/codec.js';
import { routeConnection } from '../../protocol/frame.js';
import type { Entry } from '../../broker/raft/log.js';
import type { Message } from '../../broker/raft/types.js';
import { PartitionLog } from '../../broker/storage/partition-log.js';
import { TailCache } from '../../broker/storage/tail-cache.js';
import { PeerTransport, type GroupMessage } from '../../broker/transport/peers.js';
import { encodeRaftMessages, toRaftMessage } from '../../broker/transport/raft-messages.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-tail-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A batch of `records` records of 100 bytes at `base` in `term`. */
function entryAt(base: number, records = 5, term = 1): Entry {
  const data = buildBatch(Array.from({ length: records }, (_, r) => ({ value: Buffer.alloc(100, (base + r) & 0xff) })));
  patchBatch(data, base, term);
  return { index: base + records - 1, term, data };
}

/** Flips one bit in every batch of the log's first segment, in its records (under the CRC). */
function damageOnDisk(logDir: string): void {
  const file = fs.readdirSync(logDir).filter((n) => n.endsWith('.log')).sort().map((n) => path.join(logDir, n))[0]!;
  const bytes = fs.readFileSync(file);
  for (const { start, end } of batchBounds(bytes)) bytes[start + Math.floor((end - start) * 0.8)] ^= 0x10;
  fs.writeFileSync(file, bytes);
}

function allValid(buf: Buffer): boolean {
  for (const { start, end } of batchBounds(buf)) verifyBatch(buf.subarray(start, end));
  return true;
}

t.test('the newest batches are served from memory: what the disk holds under them is not read until a reopen', async (t) => {
  const dir = path.join(tempDir(t), 'p0');
  const log = PartitionLog.open(dir);
  const written = Array.from({ length: 10 }, (_, i) => entryAt(i * 5));
  log.append(written);
  await log.flush();
  damageOnDisk(dir);

  const entries = log.entries(0, 1 << 20);
  t.same(entries.map((e) => e.index), written.map((e) => e.index), 'Raft reads every entry');
  t.ok(entries.every((e, i) => e.data.equals(written[i]!.data)), 'the bytes that were written, not the damaged ones on disk');
  const read = await log.read(12, 1 << 20, 39);
  t.ok(allValid(read), 'a consumer read from the middle of a batch gets whole, good batches');
  t.same([...batchBounds(read)].length, 6, 'from the batch holding offset 12 up to the high watermark (offset 39)');
  await log.close();

  const reopened = PartitionLog.open(dir);
  t.throws(() => reopened.entries(0, 1 << 20), { message: /CRC32C mismatch/ }, 'after a reopen the batches come from disk, and their damage is found');
  await reopened.close();
});

t.test('a truncation, a reset and retention take batches out of the cache with the log', async (t) => {
  const root = tempDir(t);
  const log = PartitionLog.open(path.join(root, 'p0'), { segmentBytes: 2000 });
  log.append(Array.from({ length: 10 }, (_, i) => entryAt(i * 5)));
  log.truncateAfter(24);
  log.append([entryAt(25, 5, 2)]);
  const after = log.entries(20, 1 << 20);
  t.same(after.map((e) => [e.index, e.term]), [[24, 1], [29, 2]], 'the entry after a truncation is the new one');
  log.deleteBefore(10);
  t.throws(() => log.entries(5, 1 << 20), { code: 'OFFSET_OUT_OF_RANGE' }, 'nothing below the log start is served');
  t.same(log.entries(10, 1 << 20).map((e) => e.index), [14, 19, 24, 29]);
  log.reset(100, 3);
  t.same(log.entries(101, 1 << 20), [], 'a reset log is empty');
  log.append([entryAt(101, 5, 3)]);
  t.same(log.entries(101, 1 << 20).map((e) => e.index), [105]);
  await log.close();
});

t.test('the budget is the broker\'s: the oldest appends go first, whichever log holds them', async (t) => {
  const one = entryAt(0).data.length;
  const cache = new TailCache(one * 5);
  const a = cache.tailFor();
  const b = cache.tailFor();
  a.add([entryAt(0), entryAt(5)]);
  b.add([entryAt(0), entryAt(5), entryAt(10)]);
  t.equal(cache.cachedBytes, one * 5, 'five batches fit');
  b.add([entryAt(15)]);
  t.equal(cache.cachedBytes, one * 4, 'the sixth drops log a\'s first append (both its batches)');
  t.equal(a.read(0, 1 << 20), undefined, 'log a reads from disk now');
  t.same(b.read(0, 1 << 20)?.map((e) => e.index), [4, 9, 14, 19], 'log b keeps all four');
  t.same(b.read(7, one * 2)?.map((e) => e.index), [9, 14], 'from the batch holding offset 7, as many as fit in the bytes asked');
  t.same(b.read(7, 1, 12)?.map((e) => e.index), [9], 'always one, none above the highest index asked');
  t.same(b.read(12, 1 << 20, 12), [], 'nothing when the batch holding the offset ends above it');
  b.truncateAfter(9);
  t.equal(cache.cachedBytes, one * 2, 'a truncation frees its bytes');
  b.clear();
  t.equal(cache.cachedBytes, 0);
  b.add([entryAt(10)]);
  t.same(b.read(10, 1 << 20)?.map((e) => e.index), [14], 'a cleared tail starts again at the next append');
  const none = new TailCache(0).tailFor();
  none.add([entryAt(0)]);
  t.equal(none.read(0, 1 << 20), undefined, 'a budget of 0 caches nothing');
});

t.test('an entry from a peer is checked on receipt; one that fails its CRC drops its message, not the connection', async (t) => {
  const good = entryAt(100);
  const bad = entryAt(105);
  bad.data[bad.data.length - 3] ^= 0x01;
  const append = (entries: Entry[], prevIndex: number): Message => ({ type: 'append', from: 1, to: 2, term: 1, prevIndex, prevTerm: 1, entries, commit: 0 });
  const wire = (message: Message) => decodePeerMessage(Buffer.concat(encodeRaftMessages([{ group: 7, message }]))).raft!.messages[0]!;
  t.throws(() => toRaftMessage(wire(append([good, bad], 99)), { verify: true }), { code: 'CORRUPT_BATCH', message: /offset 109 fails its CRC32C/ });
  t.ok(toRaftMessage(wire(append([good, bad], 99))), 'without verify only the header is checked');

  const received: GroupMessage[] = [];
  const lost: number[] = [];
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const receiver = new PeerTransport({ id: 2, clusterId: 'c', address: '127.0.0.1:0', logger, maxFrameBytes: 1 << 20, onMessages: (_from, items) => received.push(...items), onPeerLost: (peer) => lost.push(peer) });
  const server = net.createServer((socket) => routeConnection(socket, { client: (s) => s.destroy(), peer: (s) => receiver.accept(s) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sender = new PeerTransport({ id: 1, clusterId: 'c', address: '127.0.0.1:1', logger: pino({ level: 'silent' }), maxFrameBytes: 1 << 20, onMessages: () => undefined });
  t.teardown(() => {
    sender.close();
    receiver.close();
    server.close();
  });
  sender.setPeer(2, `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  for (let waited = 0; !sender.isConnected(2) && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  // Both in one turn, so in one frame: the bad one must not take the good one with it.
  sender.send(2, 7, append([good, bad], 99));
  sender.send(2, 7, append([good], 99));
  for (let waited = 0; received.length === 0 && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(received.length, 1, 'the intact message arrived');
  t.same(received[0]!.message.entries!.map((e) => e.index), [104]);
  t.ok(warnings.some((line) => line.includes('dropped a Raft message whose entry is corrupt')), 'the drop was logged');
  t.same(lost, [], 'the connection stayed up');
  t.ok(receiver.lastHeardFrom(1) > 0);
});
