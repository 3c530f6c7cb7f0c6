// The fixed-rate load generator (bench/workload.ts) keeps two clocks apart: publish latency
// runs from each send() call to its ack, and how late that call was against the schedule is
// reported as the send delay. A producer that acks 5 ms after each send, and a send() that
// holds the generator up for 30 ms, show each figure where it belongs.
import t from 'tap';
import type { Producer } from '../../client/index.js';
import { produceAtFixedRate } from '../../bench/workload.js';

const ACK_AFTER_MS = 5;
const HOLD_MS = 30;
const HELD_RECORD = 10;
const RATE = 400; // one record every 2.5 ms

function producerAckingAfter(ms: number): Producer {
  let sends = 0;
  const producer = {
    send(): Promise<unknown> {
      if (sends++ === HELD_RECORD) {
        const until = performance.now() + HOLD_MS;
        while (performance.now() < until); // the generator's thread is busy: later sends are late
      }
      return new Promise((resolve) => setTimeout(resolve, ms));
    },
    flush: async () => undefined,
  };
  return producer as unknown as Producer;
}

t.test('latency runs from send(); lateness against the schedule is the send delay', async (t) => {
  const result = await produceAtFixedRate(producerAckingAfter(ACK_AFTER_MS), { topic: 'x', recordBytes: 64, rate: RATE, durationMs: 200 });
  const records = Math.floor(0.2 * RATE);
  t.equal(result.records, records, 'every scheduled record was sent and acknowledged');
  t.equal(result.publishLatencyMs.length, records, 'one latency per record');
  t.equal(result.sendDelayMs.length, records, 'one send delay per record');
  t.ok(result.publishLatencyMs.every((ms) => ms >= ACK_AFTER_MS - 1), 'no ack comes sooner than the producer gives it');
  t.ok(result.sendDelayMs.every((ms) => ms >= 0), 'no send() happens before its time');
  // The record due next after the held send() left at least HOLD_MS - 2.5 ms late; its
  // latency still starts at its own send() call.
  const worst = Math.max(...result.sendDelayMs);
  t.ok(worst >= HOLD_MS - 1000 / RATE, `the hold shows as send delay (${worst.toFixed(1)} ms)`);
});
