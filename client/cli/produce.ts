/**
 * `flotilla produce TOPIC`: one record per stdin line. Lines are streamed into the
 * producer without awaiting each send (the producer batches them per partition); the
 * only wait is for buffer space, so memory stays bounded however large the input.
 */
import readline from 'node:readline';
import type { Acks } from '../network/api.js';
import { FlotillaError } from '../../protocol/errors.js';
import { clusterOf } from '../client.js';
import { clientFor, errorLine, showProgress, type GlobalOptions } from './context.js';

export interface ProduceOptions {
  key?: string;
  keySeparator?: string;
  partition?: number;
  acks: Acks;
  /** Unset: the library's default (idempotent with acks all). */
  idempotent?: boolean;
}

/** Key and value of one input line, per --key / --key-separator. */
export function splitLine(line: string, options: Pick<ProduceOptions, 'key' | 'keySeparator'>): { key: string | null; value: string } {
  if (options.keySeparator !== undefined) {
    const at = line.indexOf(options.keySeparator);
    if (at === -1) return { key: null, value: line };
    return { key: line.slice(0, at), value: line.slice(at + options.keySeparator.length) };
  }
  return { key: options.key ?? null, value: line };
}

export async function produceCommand(topic: string, options: ProduceOptions, globals: GlobalOptions): Promise<number> {
  if (options.key !== undefined && options.keySeparator !== undefined) {
    throw new FlotillaError('INVALID_REQUEST', 'use either --key or --key-separator, not both');
  }
  if (options.keySeparator === '') throw new FlotillaError('INVALID_REQUEST', '--key-separator must not be empty');
  const client = clientFor(globals);
  const producer = client.producer({ acks: options.acks, idempotent: options.idempotent });
  const started = Date.now();
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let firstError: unknown = null;
  const progress = showProgress()
    ? setInterval(() => process.stderr.write(`\r${acked} records acknowledged, ${sent - acked - failed} pending`), 500)
    : null;
  try {
    // Verify the topic once up front, so a typo fails at once rather than per line.
    await clusterOf(client).topic(topic);
    const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
      const { key, value } = splitLine(line, options);
      const record: Parameters<typeof producer.send>[0] = { topic, key, value };
      if (options.partition !== undefined) record.partition = options.partition;
      sent++;
      producer.send(record).then(
        () => void acked++,
        (err: unknown) => {
          failed++;
          firstError ??= err;
        },
      );
      await producer.whenWritable(); // at once unless too much is queued
    }
    await producer.flush();
  } finally {
    if (progress) {
      clearInterval(progress);
      process.stderr.write('\r\x1b[K');
    }
    await client.close();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stderr.write(`produced ${acked} of ${sent} records to ${topic} in ${seconds} s${failed ? `, ${failed} failed` : ''}\n`);
  if (firstError) {
    process.stderr.write(`${errorLine(firstError)}\n`);
    return 1;
  }
  return 0;
}
