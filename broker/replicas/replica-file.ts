/**
 * The replica file: marks a partition replica's log directory, so that the broker
 * restarts it from disk alone, without waiting for the controller.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PartitionAssignment, TopicMeta } from '../controller/state.js';
import { replaceFileSync } from '../storage/files.js';

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

export function writeReplicaFile(dataDir: string, topic: TopicMeta, assignment: PartitionAssignment, voters: number[]): void {
  const file: ReplicaFile = { topic: topic.name, partition: assignment.partition, groupId: assignment.groupId, replicas: assignment.replicas, voters, config: topic.config };
  replaceFileSync(join(dataDir, logNameOf(topic.name, assignment), REPLICA_FILE), JSON.stringify(file));
}

export function readReplicaFile(dataDir: string, logName: string): ReplicaFile {
  return JSON.parse(readFileSync(join(dataDir, logName, REPLICA_FILE), 'utf8')) as ReplicaFile;
}
