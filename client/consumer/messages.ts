/**
 * Turning a fetch response's bytes into messages for the application.
 */
import { batchBounds, isControlBatch, lastOffsetOf, records } from '../../protocol/batch.js';

export interface Message {
  topic: string;
  partition: number;
  offset: number;
  /** ms since the epoch */
  timestamp: number;
  /** Views into the fetch response (one frame, not a whole socket chunk); copy to keep long. */
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

/**
 * The user records at or above `fromOffset` in `bytes` (whole batches, concatenated),
 * and the offset to fetch next. Batches and records below `fromOffset` are skipped (a
 * broker may return the batch containing the offset, so never go backward), control
 * batches are skipped but still move the next offset past them, and a partial batch at
 * the end (cut by maxBytes) is left for the next fetch.
 */
export function messagesFrom(bytes: Buffer, topic: string, partition: number, fromOffset: number): { messages: Message[]; nextOffset: number } {
  const messages: Message[] = [];
  let nextOffset = fromOffset;
  for (const { start, end } of batchBounds(bytes)) {
    const batch = bytes.subarray(start, end);
    const last = lastOffsetOf(batch);
    if (last < nextOffset) continue;
    if (!isControlBatch(batch)) {
      for (const record of records(batch)) {
        if (record.offset < nextOffset) continue;
        const headers: Record<string, Buffer> = {};
        for (const [name, value] of record.headers) headers[name] = value;
        messages.push({ topic, partition, offset: record.offset, timestamp: record.timestamp, key: record.key, value: record.value, headers });
      }
    }
    nextOffset = last + 1;
  }
  return { messages, nextOffset };
}
