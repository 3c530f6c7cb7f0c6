/**
 * Idempotent producers: per partition, what each producer id last wrote, so that a retried
 * batch is recognised and answered with its original offsets instead of being appended
 * twice, and a batch that skips ahead is refused.
 *
 * The state is a function of the log: every replica rebuilds it by applying committed
 * batches (also after a restart, by re-applying the log). The leader adds the batches it
 * proposed in its current term and that are not yet applied ("pending"). A new leader
 * accepts idempotent batches only once it has applied an entry of its own term: by then
 * everything an earlier leader appended is either applied here or gone for good, so the
 * committed state plus this term's pending batches is the whole truth (the same rule that
 * gates membership changes, Raft thesis 4.1 / Ongaro 2015).
 *
 * A producer that has not written to the partition for PRODUCER_EXPIRY_MS is forgotten
 * (as Kafka's producer.id.expiration.ms does): every producer session takes a new id, so
 * without this the table would grow for as long as the broker runs. A producer that comes
 * back after that long starts again at sequence 0 under a new epoch (UNKNOWN_PRODUCER tells
 * it), long after any retry of its old batches could still be in flight.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { IDEMPOTENCE_WINDOW, type BatchHeader } from '../../protocol/batch.js';

export interface ProducerBatch {
  baseSequence: number;
  lastSequence: number;
  baseOffset: number;
  lastOffset: number;
}

interface PendingBatch extends ProducerBatch {
  epoch: number;
}

/** Idle time after which a producer's state is forgotten (one day). */
export const PRODUCER_EXPIRY_MS = 24 * 60 * 60 * 1000;
/** How often the table looks for idle producers (a walk over every producer). */
const EXPIRY_CHECK_MS = 60 * 1000;

interface ProducerEntry {
  epoch: number;
  /** When its last batch was applied here (ms since the epoch). */
  lastWriteAt: number;
  /** Newest last; at most IDEMPOTENCE_WINDOW. */
  batches: ProducerBatch[];
}

export type SequenceCheck =
  | { kind: 'new' }
  | { kind: 'duplicate'; batch: ProducerBatch };

export class ProducerStateTable {
  private readonly committed = new Map<number, ProducerEntry>();
  /** Leader only: batches proposed in the current term, not yet applied. By producer id. */
  private readonly pending = new Map<number, PendingBatch[]>();
  private nextExpiryCheck = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Records a batch that was applied (committed) at offsets [baseOffset, lastOffset]. */
  applyCommitted(header: BatchHeader, lastOffset: number): void {
    if (header.producerId < 0) return;
    const now = this.now();
    if (now >= this.nextExpiryCheck) this.expireIdle(now);
    const batch = toBatch(header, lastOffset);
    let entry = this.committed.get(header.producerId);
    if (!entry || header.producerEpoch > entry.epoch) {
      entry = { epoch: header.producerEpoch, lastWriteAt: now, batches: [] };
      this.committed.set(header.producerId, entry);
    }
    entry.lastWriteAt = now;
    entry.batches.push(batch);
    if (entry.batches.length > IDEMPOTENCE_WINDOW) entry.batches.shift();
    const pending = this.pending.get(header.producerId);
    if (pending) {
      const rest = pending.filter((p) => p.lastOffset > lastOffset);
      if (rest.length > 0) this.pending.set(header.producerId, rest);
      else this.pending.delete(header.producerId);
    }
  }

  /** Records a batch the leader just appended. */
  addPending(header: BatchHeader, lastOffset: number): void {
    const list = this.pending.get(header.producerId) ?? [];
    list.push({ ...toBatch(header, lastOffset), epoch: header.producerEpoch });
    this.pending.set(header.producerId, list);
  }

  /** Forgets pending batches (leadership lost: the next leader decides their fate). */
  clearPending(): void {
    this.pending.clear();
  }

  /**
   * Decides what to do with an incoming idempotent batch at the leader: append it, answer
   * it as a duplicate, or refuse it (fenced epoch, sequence gap).
   */
  check(header: BatchHeader): SequenceCheck {
    const entry = this.committed.get(header.producerId);
    const pending = this.pending.get(header.producerId) ?? [];
    // The newest epoch seen counts, pending ones included: a pending batch of a newer epoch
    // fences a late batch of an older one just as a committed one does.
    let newest = entry?.epoch ?? -1;
    for (const p of pending) newest = Math.max(newest, p.epoch);
    if (header.producerEpoch < newest) {
      throw new FlotillaError('INVALID_REQUEST', `producer ${header.producerId} epoch ${header.producerEpoch} is fenced by epoch ${newest}; re-initialise the producer`);
    }
    // Only batches of the same epoch say where the sequence stands: a new epoch starts
    // afresh, even while batches of the previous epoch are still pending.
    const sameEpoch = entry && entry.epoch === header.producerEpoch ? entry.batches : [];
    const known = [...sameEpoch, ...pending.filter((p) => p.epoch === header.producerEpoch)];
    const duplicate = known.find((b) => b.baseSequence === header.baseSequence);
    if (duplicate) {
      const lastSequence = header.baseSequence + header.recordCount - 1;
      if (duplicate.lastSequence !== lastSequence) {
        throw new FlotillaError('OUT_OF_ORDER_SEQUENCE', `producer ${header.producerId} reused sequence ${header.baseSequence} for a batch of another size`);
      }
      return { kind: 'duplicate', batch: duplicate };
    }
    const last = known[known.length - 1];
    // A producer (or epoch) this partition has no state for starts at sequence 0. Anything
    // else follows a batch that is not here: one still to be retried ahead of it (a
    // producer pipelines several batches), or one whose state retention removed. Either
    // way this batch is not appended, and UNKNOWN_PRODUCER tells the producer so.
    if (!last && header.baseSequence !== 0) {
      throw new FlotillaError('UNKNOWN_PRODUCER', `producer ${header.producerId} epoch ${header.producerEpoch} has no batch here and sent sequence ${header.baseSequence}, not 0`);
    }
    // Otherwise sequences follow on without a gap.
    if (last && header.baseSequence !== last.lastSequence + 1) {
      throw new FlotillaError(
        'OUT_OF_ORDER_SEQUENCE',
        `producer ${header.producerId} sent sequence ${header.baseSequence} but the next expected is ${last.lastSequence + 1}`,
      );
    }
    return { kind: 'new' };
  }

  /** Forgets producers idle for PRODUCER_EXPIRY_MS (those with pending batches stay). */
  private expireIdle(now: number): void {
    this.nextExpiryCheck = now + EXPIRY_CHECK_MS;
    for (const [producerId, entry] of this.committed) {
      if (now - entry.lastWriteAt >= PRODUCER_EXPIRY_MS && !this.pending.has(producerId)) this.committed.delete(producerId);
    }
  }

  get producerCount(): number {
    return this.committed.size;
  }
}

function toBatch(header: BatchHeader, lastOffset: number): ProducerBatch {
  return {
    baseSequence: header.baseSequence,
    lastSequence: header.baseSequence + header.recordCount - 1,
    baseOffset: lastOffset - header.recordCount + 1,
    lastOffset,
  };
}
