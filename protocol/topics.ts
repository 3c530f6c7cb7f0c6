/**
 * The topic rules that client and broker both check: names, partition counts and topic
 * settings. The broker's verdict is the one that counts; the client checks the same rules
 * first so a mistake fails before a round trip, with the same code and message.
 */
import { FlotillaError } from './errors.js';

/**
 * A replica's directory is `<topic>-<partition>.g<group id>`: 200 characters leave room
 * for that suffix within the 255-byte file-name limit of common file systems.
 */
export const MAX_TOPIC_NAME_LENGTH = 200;
/** Each partition is a Raft group on every replica's broker. */
export const MAX_PARTITIONS = 10_000;

const TOPIC_NAME = new RegExp(`^[A-Za-z0-9._-]{1,${MAX_TOPIC_NAME_LENGTH}}$`);

/** Throws INVALID_REQUEST unless `name` is a legal topic name; returns it. */
export function validateTopicName(name: unknown): string {
  if (typeof name !== 'string' || !TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw new FlotillaError(
      'INVALID_REQUEST',
      `invalid topic name ${JSON.stringify(name)}: use 1-${MAX_TOPIC_NAME_LENGTH} characters of A-Z a-z 0-9 . _ - (not "." or "..")`,
    );
  }
  return name;
}

/** Throws INVALID_CONFIG unless `partitions` is a whole number from 1 to MAX_PARTITIONS; returns it. */
export function validatePartitionCount(partitions: unknown): number {
  if (typeof partitions !== 'number' || !Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new FlotillaError('INVALID_CONFIG', `partitions must be between 1 and ${MAX_PARTITIONS}, got ${JSON.stringify(partitions)}`);
  }
  return partitions;
}

export interface TopicConfig {
  /** Delete segments whose newest record is older than this; -1 keeps forever. */
  retentionMs: number;
  /** Delete oldest segments while the partition is larger than this; -1 for no limit. */
  retentionBytes: number;
  /** Roll to a new segment file at this size. */
  segmentBytes: number;
}

export const DEFAULT_TOPIC_CONFIG: TopicConfig = {
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  segmentBytes: 64 * 1024 * 1024,
};

export const MIN_SEGMENT_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 1024 ** 3;

/**
 * Checks the settings given (absent or undefined ones keep their value) and returns just
 * those; throws INVALID_CONFIG naming the first bad one.
 */
export function validateTopicConfig(config: unknown): Partial<TopicConfig> {
  if (config === undefined) return {};
  if (config === null || typeof config !== 'object') {
    throw new FlotillaError('INVALID_CONFIG', 'topic config must be an object such as { retentionMs: 86400000 }');
  }
  const out: Partial<TopicConfig> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!Object.hasOwn(DEFAULT_TOPIC_CONFIG, key)) {
      throw new FlotillaError('INVALID_CONFIG', `unknown topic config ${key}; known: ${Object.keys(DEFAULT_TOPIC_CONFIG).join(', ')}`);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new FlotillaError('INVALID_CONFIG', `topic config ${key} must be an integer, got ${JSON.stringify(value)}`);
    }
    if (key === 'segmentBytes' ? value < MIN_SEGMENT_BYTES || value > MAX_SEGMENT_BYTES : value < -1 || value === 0) {
      const range = key === 'segmentBytes' ? `between ${MIN_SEGMENT_BYTES} and ${MAX_SEGMENT_BYTES}` : 'positive, or -1 for no limit';
      throw new FlotillaError('INVALID_CONFIG', `topic config ${key} must be ${range}, got ${value}`);
    }
    out[key as keyof TopicConfig] = value;
  }
  return out;
}
