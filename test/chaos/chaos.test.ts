/**
 * The fault suite, short: three brokers in network namespaces, each nemesis once for a
 * few seconds (about two minutes in all), then every replica read back. Zero anomalies
 * is the verdict; availability is reported, and only recovery after healing is required.
 * Skipped, with one line, where network namespaces cannot be made (not root, no netns).
 * `npm run chaos` runs the long version.
 */
import t from 'tap';
import { ANOMALIES, anomaliesOf, formatTable } from './checker.js';
import { NEMESES } from './nemesis.js';
import { namespacesUnavailable } from '../integration/netns.js';
import { runChaos } from './run.js';

const unavailable = await namespacesUnavailable();
if (unavailable) {
  t.plan(0, `fault suite skipped: ${unavailable}`);
} else {
  t.test('each nemesis on three brokers: no anomaly, and the cluster recovers after healing', async (t) => {
    const result = await runChaos({ brokers: 3, nemeses: NEMESES, faultMs: 9_000, log: (line) => t.comment(line) });
    t.comment(`seed ${result.seed}\n${formatTable(result.rows)}`);
    if (result.runDir) t.comment(`history and broker logs kept in ${result.runDir}`);
    for (const row of result.rows) {
      const found = ANOMALIES.filter((a) => row[a] > 0).map((a) => `${a} ${row[a]}`).join(', ');
      t.equal(anomaliesOf(row), 0, `${row.nemesis}: no anomaly${found ? ` (found ${found})` : ''}`);
      t.equal(row.unrecovered, 0, `${row.nemesis}: acknowledging again on every partition after healing`);
    }
    t.equal(result.report.incompleteReplicas, 0, 'every replica reached the high watermark after the final heal');
    t.equal(result.rows.length, NEMESES.length + 1, 'every nemesis ran, after a quiet baseline');
  });
}
