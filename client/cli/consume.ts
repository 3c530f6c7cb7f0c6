/**
 * `flotilla consume TOPIC`: prints records, one per line. Without --partition it reads
 * every partition and --count is the total. Without --follow it stops at the end of the
 * log as it was when the command started (each partition's high watermark then). With
 * --group the command is consume-group.ts instead.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { clusterOf } from '../client.js';
import { clientFor, type GlobalOptions } from './context.js';
import { messageFormatter, type StartOffset } from './format.js';

export interface ConsumeOptions {
  partition?: number;
  offset: StartOffset;
  count?: number;
  follow: boolean;
  format: 'text' | 'json';
  readFrom: 'any' | 'leader' | number;
  binary: boolean;
  group?: string;
}

/** How often the end-of-log check runs when nothing arrives. */
const CAUGHT_UP_CHECK_MS = 100;

export async function consumeCommand(topic: string, options: ConsumeOptions, globals: GlobalOptions): Promise<number> {
  const client = clientFor(globals);
  // An explicit offset outside the log is an error worth showing, not a silent jump.
  const consumer = client.consumer({ readFrom: options.readFrom, offsetReset: typeof options.offset === 'number' ? 'none' : 'earliest' });
  let stdoutClosed = false;
  let wakeWriter: (() => void) | null = null;
  process.stdout.on('error', () => {
    // `consume | head`: the reader went away; stop quietly.
    stdoutClosed = true;
    wakeWriter?.();
    void consumer.close();
  });
  let checker: NodeJS.Timeout | null = null;
  try {
    const info = await clusterOf(client).topic(topic);
    const partitions = options.partition === undefined ? info.partitions.map((p) => p.partition) : [options.partition];
    if (options.partition !== undefined && !info.partitions.some((p) => p.partition === options.partition)) {
      throw new FlotillaError('UNKNOWN_PARTITION', `topic "${topic}" has partitions 0-${info.partitions.length - 1}; there is no partition ${options.partition}`);
    }
    const ends = new Map<number, number>();
    let toRead = partitions;
    if (!options.follow) {
      for (const partition of partitions) ends.set(partition, await endOffset(client, topic, partition));
      // Nothing to read where the start is already at (or past) the end.
      toRead = partitions.filter((p) => options.offset !== 'latest' && !(typeof options.offset === 'number' && options.offset >= ends.get(p)!));
      if (toRead.length === 0) return 0;
    }
    consumer.assign(toRead.map((partition) => ({ topic, partition, offset: options.offset })));

    const format = messageFormatter(options.format, options.binary);
    const done = new Set<number>();
    if (!options.follow) {
      // A partition whose log ends in records we never see (control batches) is done
      // once the consumer fetched past its end with nothing left to hand out.
      checker = setInterval(() => {
        for (const p of consumer.progress()) {
          if (p.fetchOffset !== null && p.fetchOffset >= ends.get(p.partition)! && p.buffered === 0) done.add(p.partition);
        }
        if (done.size === toRead.length) void consumer.close();
      }, CAUGHT_UP_CHECK_MS);
    }
    let printed = 0;
    let out = '';
    if (options.count === 0) return 0;
    for await (const message of consumer) {
      if (!options.follow) {
        if (message.offset >= ends.get(message.partition)!) continue;
        if (message.offset + 1 >= ends.get(message.partition)!) done.add(message.partition);
      }
      out += format(message) + '\n';
      printed++;
      const finished = (options.count !== undefined && printed >= options.count) || (!options.follow && done.size === toRead.length);
      // Batch small lines into larger writes; wait on the pipe only when it is full.
      if (out.length >= 65536 || finished || (consumer.progress().every((p) => p.buffered === 0))) {
        if (stdoutClosed) break;
        if (!process.stdout.write(out) && !stdoutClosed) {
          await new Promise<void>((resolve) => {
            wakeWriter = resolve;
            process.stdout.once('drain', resolve);
          });
          wakeWriter = null;
        }
        out = '';
      }
      if (finished) break;
    }
    if (out && !stdoutClosed) process.stdout.write(out);
    return 0;
  } finally {
    if (checker) clearInterval(checker);
    await consumer.close();
    await client.close();
  }
}

async function endOffset(client: ReturnType<typeof clientFor>, topic: string, partition: number): Promise<number> {
  const { result } = await clusterOf(client).leaderRequest({ type: 'listOffsets', topic, partition, target: 'latest' });
  return result.offset;
}
