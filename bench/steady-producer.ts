/**
 * An idempotent acks=all producer sending at a steady rate, for the tests and benches that
 * restart or kill brokers under load: it records what was acknowledged (the bytes, by
 * partition and offset), when each acknowledgement came, and every error that reached the
 * application.
 */
import type { Client, Producer } from '../client/index.js';

export class SteadyProducer {
  /** Acknowledged values by "partition@offset", as readsBack() wants them. */
  readonly acked = new Map<string, string>();
  /** Highest acknowledged offset per partition. */
  readonly maxAckedOffset = new Map<number, number>();
  readonly errors: string[] = [];
  sent = 0;
  /** Longest time between two acknowledgements: of any partition, and of one partition. */
  longestGapMs = 0;
  longestPartitionGapMs = 0;
  /** Slowest send → acknowledgement. */
  slowestAckMs = 0;
  /** Where and when (seconds after start()) the longest one-partition gap and the slowest acknowledgement ended. */
  private longestPartitionGapAt = { partition: -1, second: 0 };
  private slowestAckAt = { partition: -1, second: 0 };
  private startedAt = 0;
  private lastAckAt = 0;
  private readonly lastPartitionAckAt = new Map<number, number>();
  private readonly producer: Producer;
  private readonly outcomes: Array<Promise<void>> = [];
  private timer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;

  constructor(
    client: Client,
    private readonly topic: string,
    private readonly partitions: number,
    private readonly intervalMs: number,
  ) {
    this.producer = client.producer({ acks: 'all', idempotent: true, lingerMs: 1 });
  }

  get ackCount(): number {
    return this.acked.size;
  }

  start(): this {
    this.startedAt = Date.now();
    this.timer = setInterval(() => this.sendOne(), this.intervalMs);
    // A test that fails before stop() must still end: the timer alone keeps nothing alive.
    this.timer.unref();
    return this;
  }

  private sendOne(): void {
    const n = this.sent++;
    const value = `record-${n}`;
    const sentAt = Date.now();
    this.outcomes.push(this.producer.send({ topic: this.topic, partition: n % this.partitions, value }).then(
      (ack) => {
        const now = Date.now();
        this.acked.set(`${ack.partition}@${ack.offset}`, value);
        this.maxAckedOffset.set(ack.partition, Math.max(this.maxAckedOffset.get(ack.partition) ?? -1, ack.offset));
        if (this.lastAckAt > 0) this.longestGapMs = Math.max(this.longestGapMs, now - this.lastAckAt);
        this.lastAckAt = now;
        const partitionLast = this.lastPartitionAckAt.get(ack.partition);
        const second = Math.round((now - this.startedAt) / 1000);
        if (partitionLast !== undefined && now - partitionLast > this.longestPartitionGapMs) {
          this.longestPartitionGapMs = now - partitionLast;
          this.longestPartitionGapAt = { partition: ack.partition, second };
        }
        this.lastPartitionAckAt.set(ack.partition, now);
        if (now - sentAt > this.slowestAckMs) {
          this.slowestAckMs = now - sentAt;
          this.slowestAckAt = { partition: ack.partition, second };
        }
      },
      (error: unknown) => {
        this.errors.push(`${value}: ${(error as { code?: string }).code ?? ''} ${(error as Error).message ?? String(error)}`);
      },
    ));
  }

  /** The figures a test prints (times in seconds after start(), which is named, to match broker logs). */
  summary(): string {
    return `from ${new Date(this.startedAt).toISOString()}: ${this.sent} sent, ${this.ackCount} acknowledged, ${this.errors.length} failed; longest stretch without an acknowledgement ${this.longestGapMs} ms (one partition: ${this.longestPartitionGapMs} ms, partition ${this.longestPartitionGapAt.partition} at ${this.longestPartitionGapAt.second} s), slowest acknowledgement ${this.slowestAckMs} ms (partition ${this.slowestAckAt.partition} at ${this.slowestAckAt.second} s)`;
  }

  /** Stops sending, waits for the outcome of every send, closes the producer. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      await Promise.all(this.outcomes);
      await this.producer.close();
    })();
    return this.stopping;
  }
}

/**
 * Reads back every partition `acked` names (value by "partition@offset", as SteadyProducer
 * keeps them) from its leader, up to its highest acknowledged offset: how many acknowledged
 * records are missing or hold other bytes. Partitions not read to the end within
 * `timeoutMs` count their unread records as missing.
 */
export async function missingAcknowledged(client: Client, topic: string, acked: Map<string, string>, timeoutMs = 120_000): Promise<{ checked: number; missing: number }> {
  const last = new Map<number, number>();
  for (const key of acked.keys()) {
    const [partition, offset] = key.split('@').map(Number) as [number, number];
    last.set(partition, Math.max(last.get(partition) ?? -1, offset));
  }
  const consumer = client.consumer({ maxWaitMs: 100 });
  consumer.assign([...last.keys()].map((partition) => ({ topic, partition, offset: 0 })));
  let found = 0;
  const unfinished = new Set(last.keys());
  const deadline = setTimeout(() => void consumer.close(), timeoutMs);
  try {
    for await (const m of consumer) {
      if (acked.get(`${m.partition}@${m.offset}`) === m.value?.toString()) found++;
      if (m.offset >= last.get(m.partition)!) unfinished.delete(m.partition);
      if (unfinished.size === 0) break;
    }
  } finally {
    clearTimeout(deadline);
    await consumer.close();
  }
  return { checked: acked.size, missing: acked.size - found };
}
