import type { Logger } from 'pino';
import type { Snapshot } from '../raft/types.js';
import type { LogManager } from '../storage/index.js';
import { CONTROLLER_LOG, type Controller } from './controller.js';
import { CorruptSnapshot } from './snapshot-file.js';

/**
 * The controller's snapshot, or undefined when there is none. When the metadata log does
 * not continue a known state — the snapshot is corrupt (set aside), or missing while the
 * log was compacted past its start — the metadata starts from nothing: the log is reset
 * (its loss recorded first, so this broker does not vote on the metadata until it has
 * caught up) and the leader sends its own snapshot.
 */
export function loadControllerSnapshot(controller: Controller, logs: LogManager, logger: Logger): Snapshot | undefined {
  let problem: { message: string; keptAs?: string };
  try {
    const snapshot = controller.loadSnapshot();
    if (snapshot) return snapshot;
    problem = { message: 'no controller snapshot, yet the metadata log was compacted past its start; starting the metadata from nothing and catching up from the controller leader' };
  } catch (err) {
    if (!(err instanceof CorruptSnapshot)) throw err;
    problem = { message: `corrupt controller snapshot (${err.message}); starting the metadata from nothing and catching up from the controller leader`, keptAs: controller.snapshotFile.setAside() };
  }
  const log = logs.open(CONTROLLER_LOG, controller.logOptions);
  // Without a snapshot, a log that starts at its beginning holds the whole history.
  if (!problem.keptAs && log.firstIndex() <= 0) return undefined;
  log.recordLoss(Math.max(log.lastIndex(), 0));
  logger.error({ keptAs: problem.keptAs }, problem.message);
  return undefined;
}
