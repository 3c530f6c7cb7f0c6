/**
 * The replica file: marks a partition replica's log directory, so that the broker
 * restarts it from disk alone, without waiting for the controller.
 *
 * It is a copy of what the metadata says about the replica, so it need not be durable
 * when a topic is created: its directory entry becomes durable with the log's first flush,
 * and if a crash leaves it empty or torn the broker sets it aside at start and the
 * metadata starts the replica instead (with the same voters: a new topic's replicas). A
 * replica file written during a move (voters other than the replicas) is made durable
 * before the replica runs.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { PartitionAssignment, TopicMeta } from '../controller/state.js';
import type { FileCache } from '../storage/files.js';

const REPLICA_FILE = 'replica.json';

export interface ReplicaFile {
  topic: string;
  partition: number;
  groupId: number;
  replicas: number[];
  /** The group's voters when this replica was created (differs from replicas during a move). */
  voters?: number[];
  config: TopicMeta['config'];
}

/** The directory (log name) of a partition replica's log. */
export function logNameOf(topic: string, assignment: PartitionAssignment): string {
  return `${topic}-${assignment.partition}.g${assignment.groupId}`;
}

export function hasReplicaFile(dataDir: string, logName: string): boolean {
  return existsSync(join(dataDir, logName, REPLICA_FILE));
}

/**
 * Whether a replica's voters differ from its assignment's replicas (it was created during a
 * move): its file then says what the metadata alone cannot restore, and is written durably.
 */
export function votersDiffer(voters: readonly number[], replicas: readonly number[]): boolean {
  return voters.length !== replicas.length || voters.some((id, i) => id !== replicas[i]);
}

/** Writes the replica file; `durable` fdatasyncs it and its directory before returning. */
export function writeReplicaFile(files: FileCache, dataDir: string, topic: TopicMeta, assignment: PartitionAssignment, voters: number[], durable: boolean): void {
  const file: ReplicaFile = { topic: topic.name, partition: assignment.partition, groupId: assignment.groupId, replicas: assignment.replicas, voters, config: topic.config };
  const path = join(dataDir, logNameOf(topic.name, assignment), REPLICA_FILE);
  const contents = Buffer.from(JSON.stringify(file));
  if (durable) files.replaceFileSync(path, contents);
  else files.writeFile(path, contents);
}

/** The replica file of log `logName`, or undefined when it is damaged (a crash right after creation). */
export function readReplicaFile(dataDir: string, logName: string): ReplicaFile | undefined {
  try {
    const file = JSON.parse(readFileSync(join(dataDir, logName, REPLICA_FILE), 'utf8')) as ReplicaFile;
    const valid = typeof file.topic === 'string' && Number.isInteger(file.partition) && Number.isInteger(file.groupId) && Array.isArray(file.replicas) && typeof file.config === 'object' && file.config !== null;
    return valid ? file : undefined;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** Sets a damaged replica file aside (kept for a post-mortem), so that the metadata writes a new one. */
export function setAsideReplicaFile(dataDir: string, logName: string): void {
  const path = join(dataDir, logName, REPLICA_FILE);
  renameSync(path, `${path}.damaged`);
}
