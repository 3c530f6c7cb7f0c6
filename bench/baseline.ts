/**
 * Another revision's brokers for `npm run bench -- --baseline REV`, built once per commit:
 * `git worktree add` of the commit into a temporary directory, `npm ci` from that
 * revision's own lockfile, `npm run build`, `npm prune --omit=dev`; then the checkout (sources, dist/,
 * node_modules/) moves into a cache directory keyed by the commit hash under os.tmpdir(),
 * and the worktree is removed. A second run with the same commit starts from the cache.
 * Only the brokers come from the baseline: the load generator stays this checkout's.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onInterrupt } from './interrupt.js';
import { BROKER_START_FLAGS } from './process-cluster.js';

/** Where built baselines are kept, one folder per commit hash. */
export const BASELINE_CACHE = join(tmpdir(), 'flotilla-bench-baselines');
/** Written last into a cache folder: its presence means the build finished. */
const COMPLETE = '.flotilla-baseline-complete';

export interface Revision {
  commit: string;
  /** Short hash and subject, for table headers. */
  title: string;
}

export interface BaselineBuild extends Revision {
  /** The baseline's own `flotilla` CLI, which its brokers run from. */
  cli: string;
  /** Whether the build came from the cache. */
  cached: boolean;
}

function git(repoRoot: string, args: string[]): string {
  return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** REV (a hash, branch, tag or HEAD~N) as a full commit hash and a title. */
export function resolveRevision(repoRoot: string, rev: string): Revision {
  let commit: string;
  try {
    commit = git(repoRoot, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
  } catch {
    throw new Error(`--baseline ${rev}: not a commit of this repository (git rev-parse found nothing)`);
  }
  return { commit, title: git(repoRoot, ['log', '-1', '--format=%h %s', commit]) };
}

/** The checkout's own commit, marked when the working tree has uncommitted changes; null outside git. */
export function headRevision(repoRoot: string): Revision | null {
  try {
    const head = resolveRevision(repoRoot, 'HEAD');
    const dirty = git(repoRoot, ['status', '--porcelain', '--untracked-files=no']) !== '';
    return dirty ? { ...head, title: `${head.title} (and uncommitted changes)` } : head;
  } catch {
    return null;
  }
}

/**
 * The `broker start` flags that the help text `help` does not list, of those the bench
 * cluster passes (an old revision's CLI may name them differently).
 */
export function missingBrokerFlags(help: string): string[] {
  return BROKER_START_FLAGS.filter((flag) => !new RegExp(`(^|[\\s,])${flag}(?=[\\s=,]|$)`, 'm').test(help));
}

/** Runs a command to completion, its output kept for the error message; killed on interrupt. */
async function run(command: string, args: string[], cwd: string, onLine: (line: string) => void): Promise<void> {
  // Its own process group, so that an interruption stops npm's children too.
  const child: ChildProcess = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const release = onInterrupt(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
  });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
    onLine(tail.trimEnd().split('\n').at(-1)?.slice(0, 100) ?? '');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  try {
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`\`${command} ${args.join(' ')}\` in ${cwd} exited with ${code ?? signal}:\n${tail}`))));
    });
  } finally {
    release();
  }
}

/**
 * The script a built checkout's `flotilla` executable runs: its package.json `bin`, so
 * that its brokers start with the node flags and the thread pool of its own first line
 * (`launcher.cjs` since 6a25c8e); `dist/client/cli/main.js` for revisions without one.
 * (Before, the baseline's brokers always ran `main.js`: a revision with a launcher ran
 * with V8's defaults and 4 pool threads against this checkout's launcher.)
 */
export function executableOf(checkout: string): string {
  const fallback = join(checkout, 'dist', 'client', 'cli', 'main.js');
  try {
    const bin = (JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')) as { bin?: Record<string, string> }).bin?.flotilla;
    return bin && existsSync(join(checkout, bin)) ? join(checkout, bin) : fallback;
  } catch {
    return fallback;
  }
}

/** Builds `revision` (or finds it in the cache) and checks that its CLI takes the bench cluster's flags. */
export async function prepareBaseline(repoRoot: string, revision: Revision, onProgress: (text: string) => void = () => {}): Promise<BaselineBuild> {
  const home = join(BASELINE_CACHE, revision.commit);
  const short = revision.commit.slice(0, 7);
  const cached = existsSync(join(home, COMPLETE));
  if (!cached) {
    rmSync(home, { recursive: true, force: true }); // an earlier build that did not finish
    mkdirSync(BASELINE_CACHE, { recursive: true });
    const scratch = mkdtempSync(join(tmpdir(), `flotilla-baseline-${short}-`));
    const worktree = join(scratch, 'checkout');
    const removeWorktree = () => {
      try {
        git(repoRoot, ['worktree', 'remove', '--force', worktree]);
      } catch {
        // not added yet, or already removed
      }
      rmSync(scratch, { recursive: true, force: true });
    };
    const release = onInterrupt(removeWorktree);
    try {
      onProgress(`baseline ${short}: git worktree add`);
      git(repoRoot, ['worktree', 'add', '--detach', worktree, revision.commit]);
      if (!existsSync(join(worktree, 'package-lock.json'))) throw new Error(`baseline ${short} has no package-lock.json: npm ci cannot install it`);
      await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], worktree, (line) => onProgress(`baseline ${short}: npm ci: ${line}`));
      await run('npm', ['run', 'build'], worktree, (line) => onProgress(`baseline ${short}: npm run build: ${line}`));
      // The brokers need only the runtime dependencies: keep the cached copy small.
      await run('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund'], worktree, (line) => onProgress(`baseline ${short}: npm prune: ${line}`));
      // Keep the built checkout without its .git link, then let git forget the worktree.
      const staging = join(scratch, 'built');
      mkdirSync(staging);
      for (const entry of readdirSync(worktree)) if (entry !== '.git') renameSync(join(worktree, entry), join(staging, entry));
      writeFileSync(join(staging, COMPLETE), `${revision.title}\n`);
      try {
        renameSync(staging, home);
      } catch (err) {
        // Another run built the same commit meanwhile: use theirs.
        if (!existsSync(join(home, COMPLETE))) throw err;
      }
    } finally {
      removeWorktree();
      release();
    }
  }
  const cli = executableOf(home);
  if (!existsSync(cli)) throw new Error(`baseline ${short} has no ${join('dist', 'client', 'cli', 'main.js')} after its build: too old for --baseline`);
  let help: string;
  try {
    help = execFileSync(process.execPath, [cli, 'broker', 'start', '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`baseline ${short}: \`flotilla broker start --help\` failed, so its CLI cannot run the bench cluster: ${(err as Error).message}`);
  }
  const missing = missingBrokerFlags(help);
  if (missing.length > 0) {
    throw new Error(`baseline ${short}: its \`flotilla broker start\` does not take ${missing.join(', ')}, which the bench cluster passes; choose a newer baseline revision`);
  }
  return { ...revision, cli, cached };
}
