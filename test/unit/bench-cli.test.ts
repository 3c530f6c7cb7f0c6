// The bench scripts' command line: --help prints the usage and starts nothing; a typo or a
// value that is not a number is refused with exit 2 before any broker starts.
import t from 'tap';
import { execFile } from 'node:child_process';
import { BenchArgs, UsageError } from '../../bench/cli.js';

const SPEC = { '--partitions': 'value', '--idle-seconds': 'value', '--timeline': 'flag' } as const;

t.test('options, flags, lists and fallbacks', async (t) => {
  const args = BenchArgs.parse(['--partitions', '1000,50000', '--timeline'], SPEC);
  t.same(args.numbers('--partitions', '1'), [1000, 50000]);
  t.equal(args.number('--idle-seconds', 20), 20, 'an absent option takes its fallback');
  t.equal(args.flag('--timeline'), true);
  t.equal(BenchArgs.parse([], SPEC).flag('--timeline'), false);
});

t.test('what is refused, with the option named', async (t) => {
  t.throws(() => BenchArgs.parse(['--partitons', '5'], SPEC), new UsageError('unknown option --partitons'));
  t.throws(() => BenchArgs.parse(['--partitions'], SPEC), new UsageError('--partitions needs a value'));
  t.throws(() => BenchArgs.parse(['--partitions', '--timeline'], SPEC), new UsageError('--partitions needs a value'));
  t.throws(() => BenchArgs.parse(['5000'], SPEC), new UsageError('unknown option 5000'));
  for (const bad of ['ten', '-1', '1,,2', 'Infinity']) {
    t.throws(() => BenchArgs.parse(['--partitions', bad], SPEC).numbers('--partitions', '1'), { name: 'UsageError', message: `--partitions takes a non-negative number, not "${bad === '1,,2' ? '' : bad}"` });
  }
});

const SCRIPTS = ['scale', 'elections', 'failover', 'kafka', 'recovery', 'slow-reader', 'scrape', 'floor'];

function run(path: string, arg: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path, arg], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

t.test('every bench script answers --help at once and refuses a typo with exit 2', async (t) => {
  const answers = await Promise.all(SCRIPTS.map(async (script) => {
    const path = `dist/bench/${script}.js`;
    return { script, help: await run(path, '--help'), typo: await run(path, '--no-such-option') };
  }));
  for (const { script, help, typo } of answers) {
    t.equal(help.status, 0, `${script} --help exits 0`);
    t.match(help.stdout, new RegExp(`^node dist/bench/${script}\\.js \\[options\\]`), `${script} --help prints its usage`);
    t.match(help.stdout, /-h, --help/);
    t.equal(typo.status, 2, `${script} refuses an unknown option`);
    t.match(typo.stderr, /^unknown option --no-such-option\n\nnode dist\/bench\//);
  }
});
