import type { Logger } from 'pino';
import type { Snapshot } from '../raft/types.js';
import type { LogManager } from '../storage/index.js';
import { CONTROLLER_LOG, type Controller } from './controller.js';
import { CorruptSnapshot } from './snapshot-file.js';

/**
 * The controller's snapshot, or undefined when there is none. A corrupt one is set aside
 * and the metadata starts from nothing: the log that followed it no longer continues a
 * known state, so it is reset (its loss recorded first, so this broker does not vote on
 * the metadata until it has caught up) and the leader sends its own snapshot.
 */
export function loadControllerSnapshot(controller: Controller, logs: LogManager, logger: Logger): Snapshot | undefined {
  try {
    return controller.loadSnapshot();
  } catch (err) {
    if (!(err instanceof CorruptSnapshot)) throw err;
    const aside = controller.snapshotFile.setAside();
    const log = logs.open(CONTROLLER_LOG, controller.logOptions);
    log.recordLoss(Math.max(log.lastIndex(), 0));
    logger.error({ err: err.message, keptAs: aside }, 'corrupt controller snapshot; starting the metadata from nothing and catching up from the controller leader');
    return undefined;
  }
}
