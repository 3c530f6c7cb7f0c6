/**
 * The Kafka listener's pure parts: the error table against kafkajs's (what Flotilla calls
 * retriable, a Kafka client retries), leader-epoch end offsets over a log of terms, and
 * magic 1 batches served to Kafka clients as magic 2.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { asMagic2Batches, buildBatch, buildControlBatch, ControlType, patchBatch } from '../../protocol/batch.js';
import { ERROR_CODES, type ErrorCode } from '../../protocol/errors.js';
import { epochEnd } from '../../broker/kafka/apis.js';
import { KAFKA_ERROR_OF } from '../../broker/kafka/errors.js';
import { toV1 } from '../legacy-batch.js';

const require = createRequire(import.meta.url);
const { errorCodes }: { errorCodes: Array<{ type: string; code: number; retriable: boolean }> } = require('kafkajs/src/protocol/error');

t.test('every Flotilla error has a Kafka code, and every retriable one a code Kafka clients retry', async (t) => {
  const kafkaCodes = new Map(errorCodes.map((e) => [e.code, e]));
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const kafka = kafkaCodes.get(KAFKA_ERROR_OF[code]);
    t.ok(kafka, `${code} maps to a code Kafka defines (${KAFKA_ERROR_OF[code]})`);
    // A group member meets REBALANCE_IN_PROGRESS by rejoining, which Kafka's clients do without calling it a retry.
    if (ERROR_CODES[code].retriable && code !== 'REBALANCE_IN_PROGRESS') t.equal(kafka?.retriable, true, `${code} is retriable, and so is ${kafka?.type}`);
  }
  t.equal(KAFKA_ERROR_OF.NOT_LEADER, 6, 'NOT_LEADER_OR_FOLLOWER');
  t.equal(KAFKA_ERROR_OF.UNKNOWN_TOPIC, 3, 'UNKNOWN_TOPIC_OR_PARTITION');
  t.equal(KAFKA_ERROR_OF.NOT_ENOUGH_REPLICAS, 19);
  t.equal(KAFKA_ERROR_OF.TIMEOUT, 7, 'REQUEST_TIMED_OUT');
  t.equal(KAFKA_ERROR_OF.INTERNAL, -1, 'UNKNOWN_SERVER_ERROR');
});

t.test('the end offset of a leader epoch comes from the log\'s terms', async (t) => {
  // Offsets 10-19 of term 2, 20-24 of term 3, 25-29 of term 5; the log starts at 10 (9 was term 1).
  const terms = (o: number) => (o < 10 ? 1 : o < 20 ? 2 : o < 25 ? 3 : 5);
  const log = { firstIndex: () => 10, lastIndex: () => 29, termAt: (o: number) => (o >= 9 && o <= 29 ? terms(o) : undefined) };
  t.same(epochEnd(log, 2), { leaderEpoch: 2, endOffset: 20 });
  t.same(epochEnd(log, 3), { leaderEpoch: 3, endOffset: 25 });
  t.same(epochEnd(log, 4), { leaderEpoch: 3, endOffset: 25 }, 'an epoch with no entries: the largest one below it');
  t.same(epochEnd(log, 5), { leaderEpoch: 5, endOffset: 30 }, 'the latest epoch ends at the log end');
  t.same(epochEnd(log, 9), { leaderEpoch: 5, endOffset: 30 });
  t.same(epochEnd(log, 1), { leaderEpoch: -1, endOffset: -1 }, 'older than everything held: undefined');
  const empty = { firstIndex: () => 0, lastIndex: () => -1, termAt: (o: number) => (o === -1 ? 0 : undefined) };
  t.same(epochEnd(empty, 0), { leaderEpoch: 0, endOffset: 0 });
});

t.test('magic 1 batches reach Kafka clients as the magic 2 batches they stand for, byte for byte', async (t) => {
  const batches = [
    buildControlBatch(ControlType.NOOP, null, 1_700_000_000_000),
    buildBatch([{ key: 'a', value: 'one', headers: { h: 'x' }, timestamp: 1_700_000_000_001 }, { value: 'two', timestamp: 1_700_000_000_002 }]),
    buildControlBatch(ControlType.CONFIG, Buffer.from('{"voters":[1,2,3]}'), 1_700_000_000_003),
    buildBatch([{ value: 'three', timestamp: 1_700_000_000_004 }]),
  ];
  let offset = 0;
  for (const batch of batches) {
    patchBatch(batch, offset, 7);
    offset += batch.readInt32BE(57);
  }
  const current = Buffer.concat(batches);
  t.equal(asMagic2Batches(current), current, 'magic 2 data is passed on as it is, not copied');
  const old = Buffer.concat(batches.map(toV1));
  t.same(asMagic2Batches(old), current, 'every magic 1 batch rewritten');
  const mixed = Buffer.concat([toV1(batches[0]!), batches[1]!, toV1(batches[2]!), batches[3]!]);
  t.same(asMagic2Batches(mixed), current, 'a segment holding both');
  const cut = Buffer.concat([toV1(batches[0]!), toV1(batches[1]!).subarray(0, 40)]);
  t.same(asMagic2Batches(cut), batches[0], 'a cut-off magic 1 batch at the end is dropped');
});
