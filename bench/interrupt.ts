/**
 * Clean-ups that must run when a benchmark or a test is interrupted (Ctrl-C, or SIGTERM
 * from a test runner whose timeout ran out): broker processes and their data directories,
 * a temporary git worktree. Each is synchronous, because the process exits right after
 * them; the last registered runs first.
 */
const cleanups: Array<() => void> = [];
let installed = false;

function runAllAndExit(signal: NodeJS.Signals): void {
  process.stderr.write(`\n${signal}: cleaning up (brokers this process started, their data)\n`);
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup();
    } catch (err) {
      process.stderr.write(`clean-up failed: ${(err as Error).message}\n`);
    }
  }
  process.exit(130);
}

/** Registers `cleanup` for an interruption; call the returned function once it is no longer needed. */
export function onInterrupt(cleanup: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once('SIGINT', runAllAndExit);
    process.once('SIGTERM', runAllAndExit);
  }
  cleanups.push(cleanup);
  return () => {
    const at = cleanups.indexOf(cleanup);
    if (at >= 0) cleanups.splice(at, 1);
  };
}
