/** The storage engine: segmented partition logs, group commit, Raft hard state. */
export { PartitionLog, defaultLogOptions, validateLogOptions, type PartitionLogOptions, type TimestampedOffset } from './partition-log.js';
export { LogManager, defaultManagerOptions, type DurabilityMode, type LogManagerOptions } from './log-manager.js';
export { HardStateStore, loadHardState, saveHardState, saveHardStateSync, HARD_STATE_FILE } from './hard-state.js';
export { createResources, segmentFileName, type StorageResources } from './segment.js';
