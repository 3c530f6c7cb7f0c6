/**
 * CPU accounting over a measurement window (Linux /proc): cores used by the bench process,
 * by each broker, and by everything else on the machine. On a shared 2-core machine the
 * last figure says whether a result was measured with the machine to itself.
 * 1.0 = one core busy for the whole window.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_SECOND = 100;

function machineBusyTicks(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait
    return fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]! + (fields[7] ?? 0);
  } catch {
    return NaN;
  }
}

function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]); // utime + stime
  } catch {
    return 0;
  }
}

export interface CpuUse {
  seconds: number;
  /** This process (producers, consumers, the client library). */
  benchCores: number;
  /** Per broker process, in the order given. */
  brokerCores: number[];
  /** CPU-seconds of all brokers together over the window (unrounded, for per-GB figures). */
  brokerSeconds: number;
  /** CPU-seconds of each broker over the window (unrounded, for differences under 1% of a core). */
  brokerSecondsEach: number[];
  /** Everything else on the machine. */
  otherCores: number;
}

export class CpuMeter {
  private readonly startedAt = performance.now();
  private readonly machine = machineBusyTicks();
  private readonly own: number;
  private readonly brokers: number[];

  constructor(private readonly brokerPids: number[]) {
    this.own = processTicks(process.pid);
    this.brokers = brokerPids.map(processTicks);
  }

  read(): CpuUse {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const cores = (ticks: number) => ticks / TICKS_PER_SECOND / seconds;
    const bench = processTicks(process.pid) - this.own;
    const brokers = this.brokerPids.map((pid, i) => processTicks(pid) - this.brokers[i]!);
    const machine = machineBusyTicks() - this.machine;
    const other = machine - bench - brokers.reduce((a, b) => a + b, 0);
    const round = (n: number) => Math.round(n * 100) / 100;
    const brokerTicks = brokers.reduce((a, b) => a + b, 0);
    return {
      seconds: round(seconds),
      benchCores: round(cores(bench)),
      brokerCores: brokers.map((b) => round(cores(b))),
      brokerSeconds: brokerTicks / TICKS_PER_SECOND,
      brokerSecondsEach: brokers.map((b) => b / TICKS_PER_SECOND),
      otherCores: round(Math.max(0, cores(other))),
    };
  }
}
