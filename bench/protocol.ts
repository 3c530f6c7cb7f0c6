/**
 * Protocol micro-benchmark: record batches (build, CRC verify, iterate) and frame decoding,
 * each next to a plain Buffer.copy of the same bytes measured in the same run, plus
 * protobufjs static code vs runtime-loaded types for the Produce request envelope.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/protocol.js
 *
 * "x copy" is how many times longer than the copy baseline an operation takes per byte.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import lps from 'length-prefixed-stream';
import { buildBatch, records, verifyBatch, type RecordInput } from '../protocol/batch.js';
import { client, encodeRequest, decodeRequest, encodeResponse } from '../protocol/codec.js';
import { encodeFrame, FrameDecoder } from '../protocol/frame.js';
import { ClientResponseType, protobuf } from '../protocol/protobuf.js';
import { descriptor as clientDescriptor } from '../protocol/client.schema.js';

const MiB = 1024 * 1024;
/** A producer's batch (SPEC: batchBytes 65536) and a socket read. */
const BATCH_BYTES = 64 * 1024;
const CHUNK_BYTES = 64 * 1024;

/** Runs `op` (which processes `bytes` bytes) for about `ms` after a warm-up; returns MB/s. */
function measure(bytes: number, op: () => void, ms = 300): number {
  const warmUntil = performance.now() + ms / 4;
  while (performance.now() < warmUntil) op();
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 8; i++) op();
    runs += 8;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (bytes * runs) / MiB / (elapsed / 1000);
}

function copyBaseline(bytes: Buffer): number {
  const target = Buffer.allocUnsafe(bytes.length);
  return measure(bytes.length, () => bytes.copy(target));
}

interface Row {
  what: string;
  size: string;
  mbps: number;
  copy: number;
}

function recordsOf(size: number): RecordInput[] {
  const count = Math.max(1, Math.floor(BATCH_BYTES / (size + 12)));
  const value = Buffer.alloc(size, 0x61);
  return Array.from({ length: count }, (_, i) => ({ key: `key-${i}`, value, timestamp: 1_700_000_000_000 + i }));
}

function batchRows(size: number, label: string): Row[] {
  const input = recordsOf(size);
  const batch = buildBatch(input);
  const copy = copyBaseline(batch);
  let sink = 0;
  const rows: Row[] = [
    { what: 'batch build', size: label, mbps: measure(batch.length, () => void buildBatch(input)), copy },
    { what: 'batch CRC verify', size: label, mbps: measure(batch.length, () => void verifyBatch(batch)), copy },
    {
      what: 'record iteration',
      size: label,
      mbps: measure(batch.length, () => {
        for (const r of records(batch)) sink += r.value!.length;
      }),
      copy,
    },
  ];
  if (sink < 0) throw new Error('unreachable');
  return rows;
}

/** The same stream of frames, cut into socket-sized chunks. */
function frameStream(frameSize: number): { chunks: Buffer[]; bytes: number; frames: number } {
  const frames = Math.max(4, Math.ceil((4 * MiB) / frameSize));
  const body = Buffer.alloc(frameSize, 0x62);
  const stream = Buffer.concat(Array.from({ length: frames }, () => encodeFrame(body)));
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += CHUNK_BYTES) chunks.push(stream.subarray(at, at + CHUNK_BYTES));
  return { chunks, bytes: stream.length, frames };
}

function frameRows(frameSize: number, label: string): Row[] {
  const { chunks, bytes, frames } = frameStream(frameSize);
  const target = Buffer.allocUnsafe(CHUNK_BYTES);
  const copy = measure(bytes, () => {
    for (const c of chunks) c.copy(target);
  });
  const run = (decoder: NodeJS.ReadWriteStream): number => {
    let got = 0;
    decoder.on('data', () => got++);
    const mbps = measure(bytes, () => {
      for (const c of chunks) decoder.write(c);
    });
    if (got % frames !== 0) throw new Error(`decoder lost frames: ${got} is not a multiple of ${frames}`);
    return mbps;
  };
  const limit = 16 * MiB;
  return [
    { what: 'frame decode (length-prefixed-stream alone)', size: label, mbps: run(lps.decode({ limit, allowEmpty: true })), copy },
    { what: 'frame decode (FrameDecoder: guard + lps)', size: label, mbps: run(new FrameDecoder({ maxFrameBytes: limit, idleTimeoutMs: 0, frameTimeoutMs: 0 })), copy },
  ];
}

function table(rows: Row[]): string {
  const lines = ['| operation | size | MB/s | copy MB/s | x copy |', '|---|---|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.what} | ${r.size} | ${r.mbps.toFixed(0)} | ${r.copy.toFixed(0)} | ${(r.copy / r.mbps).toFixed(2)} |`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------
// protobufjs: static code vs runtime types

interface ProtoRow {
  variant: string;
  batch: string;
  encodeOps: number;
  decodeOps: number;
}

function opsPerSecond(op: () => void): number {
  return measure(1, op) * MiB; // one "byte" per op: MB/s * MiB = ops/s
}

/** pbjs static code for client.proto, generated into dist/ (not checked in). */
function loadStatic(): { Request: protobuf.Type } {
  const here = dirname(fileURLToPath(import.meta.url));
  const out = join(here, 'generated');
  mkdirSync(out, { recursive: true });
  const repo = join(here, '..', '..');
  const file = join(out, 'client.static.cjs');
  execFileSync(join(repo, 'node_modules', '.bin', 'pbjs'), ['-t', 'static-module', '-w', 'commonjs', '--no-verify', '--no-convert', '--no-delimited', '-o', file, join(repo, 'protocol', 'client.proto')]);
  const generated = createRequire(import.meta.url)(file) as { flotilla: { client: { Request: protobuf.Type } } };
  return { Request: generated.flotilla.client.Request };
}

function protobufRows(): ProtoRow[] {
  const rows: ProtoRow[] = [];
  const staticTypes = loadStatic();
  for (const size of [1024, 64 * 1024]) {
    const request = { correlationId: 12345, apiVersion: 1, clientId: 'bench', produce: { topic: 'orders', partition: 3, acks: client.Acks.ACKS_ALL, timeoutMs: 30000, batch: Buffer.alloc(size, 1) } };
    const frame = encodeRequest(request);
    rows.push({
      variant: 'runtime (Root.fromJSON)',
      batch: `${size / 1024} KiB`,
      encodeOps: opsPerSecond(() => void encodeRequest(request)),
      decodeOps: opsPerSecond(() => void decodeRequest(frame)),
    });
    rows.push({
      variant: 'static (pbjs static-module)',
      batch: `${size / 1024} KiB`,
      encodeOps: opsPerSecond(() => void staticTypes.Request.encode(request).finish()),
      decodeOps: opsPerSecond(() => void staticTypes.Request.decode(frame)),
    });
  }
  return rows;
}

/** int64 as numbers: Long disabled (what protocol/protobuf.ts does) vs Long + toObject. */
function longRows(): ProtoRow[] {
  const fetch = {
    correlationId: 9,
    fetch: {
      partitions: Array.from({ length: 20 }, (_, i) => ({ topic: 'orders', partition: i, highWatermark: 2 ** 40 + i, logStartOffset: 2 ** 33 + i, records: Buffer.alloc(256, 1) })),
    },
  };
  const frame = encodeResponse(fetch);
  const numbers = opsPerSecond(() => void ClientResponseType.decode(frame));
  // Switch Long back on for a separately built root, measure, and switch it off again.
  const util = protobuf.util as { Long: unknown };
  util.Long = createRequire(import.meta.url)('long');
  protobuf.configure();
  try {
    const withLong = protobuf.Root.fromJSON(clientDescriptor).resolveAll().lookupType('flotilla.client.Response');
    const longs = opsPerSecond(() => void withLong.toObject(withLong.decode(frame), { longs: Number }));
    const rawLong = opsPerSecond(() => void withLong.decode(frame));
    return [
      { variant: 'Long disabled, numbers from decode (chosen)', batch: 'fetch, 20 partitions', encodeOps: NaN, decodeOps: numbers },
      { variant: 'Long objects from decode (unusable as numbers)', batch: 'fetch, 20 partitions', encodeOps: NaN, decodeOps: rawLong },
      { variant: 'Long + toObject({ longs: Number })', batch: 'fetch, 20 partitions', encodeOps: NaN, decodeOps: longs },
    ];
  } finally {
    util.Long = null;
    protobuf.configure();
  }
}

function protoTable(rows: ProtoRow[]): string {
  const fmt = (n: number): string => (Number.isNaN(n) ? '-' : `${(n / 1000).toFixed(0)} k`);
  const lines = ['| protobuf variant | message | encode ops/s | decode ops/s |', '|---|---|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.variant} | ${r.batch} | ${fmt(r.encodeOps)} | ${fmt(r.decodeOps)} |`);
  return lines.join('\n');
}

/** Runs every measurement and returns the markdown tables. */
export function runProtocolBench(): string {
  const rows: Row[] = [];
  for (const [size, label] of [[100, '100 B records'], [1024, '1 KiB records'], [16 * 1024, '16 KiB records']] as const) rows.push(...batchRows(size, label));
  for (const [size, label] of [[100, '100 B frames'], [1024, '1 KiB frames'], [16 * 1024, '16 KiB frames'], [256 * 1024, '256 KiB frames'], [MiB, '1 MiB frames']] as const) {
    rows.push(...frameRows(size, label));
  }
  return [
    `Node ${process.version}, ${BATCH_BYTES / 1024} KiB batches, frames fed in ${CHUNK_BYTES / 1024} KiB chunks.`,
    '',
    table(rows),
    '',
    protoTable([...protobufRows(), ...longRows()]),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${runProtocolBench()}\n`);
}
