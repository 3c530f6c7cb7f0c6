/**
 * Batches as Flotilla 0.1 wrote them (magic 1), for the tests that check such data still
 * reads. The layout is today's; only the magic (outside the CRC) and the control record's
 * key (one byte: 0 no-op, 1 configuration) differ. batch.test.ts pins these bytes to
 * ones 0.1 produced.
 */
import {
  buildBatch, ControlType, Field, isControlBatch, MAGIC_V1, patchBatch, readBatchHeader, readControl,
  type BatchOptions, type RecordInput,
} from '../protocol/batch.js';

export const V1ControlKey = { NOOP: 0, CONFIG: 1 } as const;

export function buildV1Batch(records: readonly RecordInput[], options: BatchOptions = {}): Buffer {
  const batch = buildBatch(records, options);
  batch.writeInt8(MAGIC_V1, Field.magic);
  return batch;
}

export function buildV1ControlBatch(key: (typeof V1ControlKey)[keyof typeof V1ControlKey], payload: Buffer | null, now = 0): Buffer {
  return buildV1Batch([{ key: Buffer.of(key), value: payload, timestamp: now }], { control: true, now });
}

/** A magic 2 batch rewritten as 0.1 would have written it: same offsets, term, timestamps. */
export function toV1(batch: Buffer): Buffer {
  const header = readBatchHeader(batch);
  let v1: Buffer;
  if (isControlBatch(batch)) {
    const { type, payload } = readControl(batch);
    const key = type === ControlType.NOOP ? V1ControlKey.NOOP : type === ControlType.CONFIG ? V1ControlKey.CONFIG : undefined;
    if (key === undefined) throw new Error(`control type ${type} has no magic 1 form`);
    v1 = buildV1ControlBatch(key, payload && Buffer.from(payload), header.baseTimestamp);
  } else {
    v1 = Buffer.from(batch);
    v1.writeInt8(MAGIC_V1, Field.magic);
  }
  patchBatch(v1, header.baseOffset, header.term);
  return v1;
}
