/**
 * The history of a chaos run: every send, acknowledgement, failure, consumer read, fault
 * and final replica read, in the order they happened, kept in memory for the checker and
 * written as JSON lines as they happen, so that a run that fails (or dies) leaves it
 * behind for a post-mortem.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

/** A record's value names its producer and that producer's sequence number: "producer:seq". */
export function recordValue(producer: number, seq: number): string {
  return `${producer}:${seq}`;
}

export function parseValue(value: string): { producer: number; seq: number } | null {
  const m = /^(\d+):(\d+)$/.exec(value);
  return m ? { producer: Number(m[1]), seq: Number(m[2]) } : null;
}

export type HistoryEvent =
  | { t: number; type: 'send'; producer: number; seq: number; partition: number }
  | { t: number; type: 'ack'; producer: number; seq: number; partition: number; offset: number }
  | { t: number; type: 'fail'; producer: number; seq: number; error: string }
  /** A live consumer (one per partition, restarted where it stopped if it fails) handed out a record. */
  | { t: number; type: 'read'; consumer: number; partition: number; offset: number; value: string }
  /** A phase: 'start' begins its fault, 'heal' ends it, 'end' closes it (recovered or not). */
  | { t: number; type: 'phase'; phase: number; nemesis: string; edge: 'start' | 'heal' | 'end'; recovered?: boolean; recoveryMs?: number }
  /** What a nemesis did (cut, kill, pause...) and to whom. */
  | { t: number; type: 'nemesis'; phase: number; action: string; detail: unknown }
  /**
   * A replica read after the final heal, from offset 0 up to the partition's high
   * watermark (`complete` false if it did not get there in time); `leader` marks the
   * replica the others are compared with. Records are [offset, value], control records
   * (which hold offsets too) left out.
   */
  | { t: number; type: 'replica'; partition: number; broker: number; leader: boolean; highWatermark: number; complete: boolean; records: Array<[number, string]> }
  | { t: number; type: 'note'; text: string };

/** Distributes Omit over the union, so each event keeps its own fields. */
type WithoutTime<E> = E extends unknown ? Omit<E, 't'> : never;

export class History {
  readonly events: HistoryEvent[] = [];
  private readonly out: WriteStream | null;

  constructor(file?: string) {
    this.out = file ? createWriteStream(file) : null;
  }

  add(event: WithoutTime<HistoryEvent>): void {
    const full = { t: Date.now(), ...event } as HistoryEvent;
    this.events.push(full);
    this.out?.write(`${JSON.stringify(full)}\n`);
  }

  async close(): Promise<void> {
    const out = this.out;
    if (out) await new Promise<void>((resolve) => out.end(resolve));
  }
}
