/**
 * `npm run chaos -- [options]`: a long fault run on brokers in network namespaces (root
 * only), printing each phase as it ends and a table per nemesis at the end. Exits 1 when
 * the checker found any anomaly or the cluster did not recover, and names the directory
 * that keeps the history and broker logs.
 */
import { parseArgs } from 'node:util';
import { anomaliesOf, formatTable } from './checker.js';
import { NEMESES, nemesisNamed } from './nemesis.js';
import { namespacesUnavailable } from '../integration/netns.js';
import { runChaos } from './run.js';

const HELP = `Usage: npm run chaos -- [options]

Runs brokers, each in its own network namespace on a private bridge, under a workload of
idempotent producers and tailing consumers, while nemeses cut links (silently: packets
vanish), kill and pause brokers, and move partitions off brokers that are down. Each phase lets one nemesis loose, heals, and waits for
the cluster to acknowledge again; at the end every replica is read back and checked.
Needs root (network namespaces).

Options:
  --brokers N       brokers (default 5)
  --duration S      seconds of faults; phases start until this much time has passed
                    (default 300)
  --nemesis LIST    comma-separated nemeses, mixed in shuffled rounds (default: all)
  --fault S         seconds each fault lasts (default 15)
  --partitions N    partitions of the test topic, replication factor 3 (default: brokers)
  --seed N          seed for the choice of nemeses and targets (default: random)
  --keep            keep the history and broker logs even when the run is clean
  -h, --help        this text

Nemeses:
${NEMESES.map((n) => `  ${n.name.padEnd(16)}  ${n.help}`).join('\n')}

Exit status 0 when no anomaly was found and the cluster recovered after every heal.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      brokers: { type: 'string', default: '5' },
      duration: { type: 'string', default: '300' },
      nemesis: { type: 'string' },
      fault: { type: 'string', default: '15' },
      partitions: { type: 'string' },
      seed: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const number = (name: string, value: string | undefined, min: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${value}"`);
    return n;
  };
  const nemeses = values.nemesis ? values.nemesis.split(',').map((name) => nemesisNamed(name.trim())) : NEMESES;
  const unavailable = await namespacesUnavailable();
  if (unavailable) throw new Error(`${unavailable}: the fault suite needs network namespaces (run as root on Linux)`);
  const result = await runChaos({
    brokers: number('brokers', values.brokers, 3)!,
    durationMs: number('duration', values.duration, 1)! * 1000,
    faultMs: number('fault', values.fault, 1)! * 1000,
    partitions: number('partitions', values.partitions, 1),
    seed: number('seed', values.seed, 0),
    nemeses,
    keep: values.keep,
    log: (line) => console.log(line),
  });
  console.log(`\n${formatTable(result.rows)}\n`);
  const { report } = result;
  console.log(`${(result.elapsedMs / 1000).toFixed(0)} s, seed ${result.seed}: ${report.anomalies} anomalies, ${report.unrecovered} recoveries missed${report.incompleteReplicas ? ` (${report.incompleteReplicas} replicas never caught up)` : ''}`);
  if (result.runDir) console.log(`history and broker logs kept in ${result.runDir}`);
  return report.ok && result.rows.every((r) => anomaliesOf(r) === 0) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`chaos: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
