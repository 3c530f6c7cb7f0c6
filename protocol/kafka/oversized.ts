/**
 * A Produce request over the frame limit, read as it streams past. Its records are skipped,
 * never held; everything else (the header, acks, timeout, topic names and partition indexes)
 * is kept as a request of its own in which every records field is null. A listener can then
 * answer each partition MESSAGE_TOO_LARGE, as Kafka answers a batch over its limit, instead
 * of only closing the connection (which a client takes for a network failure and retries).
 *
 * Only Produce v3-v8 (the versions the listener serves: none of them flexible) is read this
 * way; any other request over the limit, or a skeleton itself over its own bound, is
 * refused with a KafkaCodecError, and the connection closes as before.
 */
import { KafkaCodecError } from './errors.js';

const PRODUCE_KEY = 0;
const NULL_RECORDS = Buffer.from([0xff, 0xff, 0xff, 0xff]); // int32 -1: null bytes

/** What the parser asks for next: `read` bytes handed to it, or `skip` bytes dropped unseen. */
type Step = { read: number } | { skip: number };

export class OversizedProduce {
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  /** Bytes of the frame not yet taken. */
  private remaining: number;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly parser: Generator<Step, void, Buffer>;
  private step: IteratorResult<Step, void>;

  /** `frameBytes`: the frame's size (after its size prefix); `maxSkeletonBytes`: what may be kept of it. */
  constructor(
    readonly frameBytes: number,
    private readonly maxSkeletonBytes: number,
  ) {
    this.remaining = frameBytes;
    this.parser = produceSkeleton((bytes) => this.keep(bytes));
    this.step = this.parser.next();
  }

  /** Bytes of the frame taken so far. */
  get seen(): number {
    return this.frameBytes - this.remaining;
  }

  /** How many more bytes the frame has. */
  get missing(): number {
    return this.remaining;
  }

  /**
   * Takes the frame's next bytes (no more than `missing`). Returns the skeleton request once
   * the whole frame is in, else null; throws a KafkaCodecError for anything but a
   * well-formed Produce request of a served version.
   */
  push(bytes: Buffer): Buffer | null {
    if (bytes.length > this.remaining) throw new RangeError(`${bytes.length} bytes pushed with ${this.remaining} left in the frame`);
    this.remaining -= bytes.length;
    if (bytes.length > 0) {
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
    }
    while (!this.step.done) {
      const step = this.step.value;
      if ('skip' in step) {
        const dropped = this.drop(step.skip);
        if (dropped < step.skip) {
          this.step = { done: false, value: { skip: step.skip - dropped } };
          break;
        }
        this.step = this.parser.next(Buffer.alloc(0));
      } else {
        if (step.read > this.pendingBytes + this.remaining) throw malformed('ends inside a field');
        if (this.pendingBytes < step.read) break;
        this.step = this.parser.next(this.take(step.read));
      }
    }
    // Bytes past the last field are refused at once, never held to the frame's end.
    if (this.step.done && (this.pendingBytes > 0 || this.remaining > 0)) throw malformed('does not end where its fields do');
    if (this.remaining > 0) return null;
    if (!this.step.done) throw malformed('does not end where its fields do');
    return Buffer.concat(this.kept, this.keptBytes);
  }

  private keep(bytes: Buffer): void {
    this.keptBytes += bytes.length;
    if (this.keptBytes > this.maxSkeletonBytes) throw malformed(`names more than ${this.maxSkeletonBytes} bytes of topics and partitions`);
    this.kept.push(bytes);
  }

  /** The next `length` pending bytes (length <= pendingBytes), copied: the chunks they came in are not held. */
  private take(length: number): Buffer {
    const taken = Buffer.allocUnsafe(length);
    this.consume(length, taken);
    return taken;
  }

  /** Drops up to `length` pending bytes; returns how many. */
  private drop(length: number): number {
    return this.consume(length, null);
  }

  /** Removes up to `length` pending bytes, copying them into `into` if given; returns how many. */
  private consume(length: number, into: Buffer | null): number {
    let done = 0;
    while (done < length && this.pending.length > 0) {
      const first = this.pending[0]!;
      const part = Math.min(first.length, length - done);
      into?.set(first.subarray(0, part), done);
      if (part === first.length) this.pending.shift();
      else this.pending[0] = first.subarray(part);
      done += part;
    }
    this.pendingBytes -= done;
    return done;
  }
}

function malformed(what: string): KafkaCodecError {
  return new KafkaCodecError(`an oversized request ${what}`, { failure: 'MALFORMED' });
}

/**
 * Produce v3-v8's fields in order (request header v1 first), keeping each through `keep`
 * except the records, which become null and are skipped.
 */
function* produceSkeleton(keep: (bytes: Buffer) => void): Generator<Step, void, Buffer> {
  function* read(length: number): Generator<Step, Buffer, Buffer> {
    const bytes = yield { read: length };
    keep(bytes);
    return bytes;
  }
  function* string(): Generator<Step, void, Buffer> {
    const length = (yield* read(2)).readInt16BE(0);
    if (length < -1) throw malformed('has a negative string length');
    if (length > 0) yield* read(length);
  }
  function* count(): Generator<Step, number, Buffer> {
    const n = (yield* read(4)).readInt32BE(0);
    if (n < 0) throw malformed('has a negative array length');
    return n;
  }
  const header = yield* read(8); // api key, api version, correlation id
  const apiKey = header.readInt16BE(0);
  const version = header.readInt16BE(2);
  if (apiKey !== PRODUCE_KEY || version < 3 || version > 8) {
    throw new KafkaCodecError(`a request of api ${apiKey} v${version} is over the frame limit`, { failure: 'MALFORMED' });
  }
  yield* string(); // client id
  yield* string(); // transactional id
  yield* read(6); // acks, timeout
  const topics = yield* count();
  for (let t = 0; t < topics; t++) {
    yield* string(); // name
    const partitions = yield* count();
    for (let p = 0; p < partitions; p++) {
      yield* read(4); // index
      const length = (yield { read: 4 }).readInt32BE(0);
      if (length < -1) throw malformed('has a negative records length');
      keep(NULL_RECORDS);
      if (length > 0) yield { skip: length };
    }
  }
}
