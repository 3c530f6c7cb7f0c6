/**
 * `flotilla consume TOPIC --group G`: reads the partitions the group assigns to this
 * member, commits periodically (autoCommit) and on exit (also after Ctrl-C), then leaves
 * the group. Where nothing is committed yet it starts per --offset (earliest or latest).
 * Without --follow it stops once every partition it owns is read up to the end of the log
 * as it was when it got the partition (or when it owned nothing for a while).
 */
import { FlotillaError } from '../../protocol/errors.js';
import { clusterOf } from '../client.js';
import { clientFor, type GlobalOptions } from './context.js';
import type { ConsumeOptions } from './consume.js';
import { messageFormatter } from './format.js';

const CAUGHT_UP_CHECK_MS = 100;
/** Without --follow: a member that owns nothing this long stops (more members than partitions). */
const IDLE_EXIT_MS = 3000;

export async function consumeGroupCommand(topic: string, options: ConsumeOptions, globals: GlobalOptions): Promise<number> {
  if (options.partition !== undefined) throw new FlotillaError('INVALID_REQUEST', '--partition and --group do not go together: the group assigns the partitions');
  if (typeof options.offset !== 'string') throw new FlotillaError('INVALID_REQUEST', '--offset N (or a time) and --group do not go together; set the group\'s offsets with `flotilla group reset-offsets`');
  const client = clientFor(globals);
  const consumer = client.consumer({ groupId: options.group!, readFrom: options.readFrom });
  const stop = () => void consumer.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let stdoutClosed = false;
  process.stdout.on('error', () => {
    stdoutClosed = true;
    stop();
  });
  let checker: NodeJS.Timeout | null = null;
  try {
    await consumer.subscribe({ topic, fromBeginning: options.offset === 'earliest' });
    if (options.count === 0) return 0;
    // Per owned partition: the end of the log when it was first seen in the assignment.
    const ends = new Map<number, number | null>();
    const done = new Set<number>();
    let idleSince = Date.now();
    if (!options.follow) {
      checker = setInterval(() => {
        const progress = consumer.progress();
        if (progress.length === 0) {
          if (Date.now() - idleSince >= IDLE_EXIT_MS) stop();
          return;
        }
        idleSince = Date.now();
        for (const p of progress) {
          if (!ends.has(p.partition)) {
            ends.set(p.partition, null);
            void clusterOf(client)
              .leaderRequest({ type: 'listOffsets', topic, partition: p.partition, target: 'latest' })
              .then(({ result }) => ends.set(p.partition, result.offset))
              .catch(() => ends.delete(p.partition));
            continue;
          }
          const end = ends.get(p.partition);
          if (end != null && p.fetchOffset !== null && p.fetchOffset >= end && p.buffered === 0) done.add(p.partition);
        }
        if (progress.every((p) => done.has(p.partition))) stop();
      }, CAUGHT_UP_CHECK_MS);
    }
    const format = messageFormatter(options.format, options.binary);
    let printed = 0;
    for await (const message of consumer) {
      if (stdoutClosed) break;
      if (!process.stdout.write(format(message) + '\n')) await new Promise((r) => process.stdout.once('drain', r));
      printed++;
      if (options.count !== undefined && printed >= options.count) break;
    }
    return 0;
  } finally {
    if (checker) clearInterval(checker);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await consumer.close(); // commits what was printed, and leaves the group
    await client.close();
  }
}
