/**
 * A broker's node flags are written once, on the first line of the `flotilla` executable
 * (client/cli/launcher.cts says why); everything that starts a broker otherwise passes the
 * same ones.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CLI, missingGeneratorFlags, shebangNodeFlags } from '../../bench/process-cluster.js';

const repoRoot = join(CLI, '..', '..', '..', '..');

t.test("the launcher's first line holds the broker's node flags", async (t) => {
  t.match(readFileSync(CLI, 'utf8').split('\n', 1)[0], /^#!\/usr\/bin\/env -S node /, 'run as an executable, env passes them to node');
  t.same(shebangNodeFlags(CLI), ['--initial-old-space-size=128']);
  t.same(shebangNodeFlags(join(repoRoot, 'dist', 'client', 'cli', 'main.js')), [], 'a script without flags on its first line has none');
  t.same(shebangNodeFlags(join(repoRoot, 'no-such-file.js')), [], 'nor has a missing one (an older revision)');
});

t.test('the systemd unit starts node with the same flags', async (t) => {
  const execStart = readFileSync(join(repoRoot, 'deploy', 'flotilla.service'), 'utf8').split('\n').find((line) => line.startsWith('ExecStart='))!;
  const words = execStart.slice('ExecStart='.length).split(/\s+/);
  const launcherAt = words.findIndex((word) => word.endsWith('/launcher.cjs'));
  t.same(words.slice(1, launcherAt), shebangNodeFlags(CLI), `ExecStart: ${execStart}`);
});

t.test('npm run bench starts its load generator with the same flags, and a generator without them is told', async (t) => {
  const script = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['bench']!;
  const command = script.split('&&').map((part) => part.trim()).find((part) => part.endsWith('dist/bench/run.js'))!;
  t.same(command.split(/\s+/).slice(1, -1), shebangNodeFlags(CLI), `bench script: ${script}`);
  t.same(missingGeneratorFlags([]), ['--initial-old-space-size=128']);
  t.same(missingGeneratorFlags(['--initial-old-space-size=256', '--cpu-prof']), [], 'a value of its own counts');
});
