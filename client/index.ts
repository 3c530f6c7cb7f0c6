/**
 * The root export of `flotilla`: `import { Client, FlotillaError } from 'flotilla'`.
 */
export { Client } from './client.js';
export { FlotillaError, ERROR_CODES, type ErrorCode, type FlotillaErrorDetails } from '../protocol/errors.js';
export type { ClientOptions, ClientTlsOptions, SaslOptions } from './options.js';
export type { ClientLogger } from './logger.js';
export { Admin, type CreateTopicOptions, type UserPassword } from './admin/admin.js';
export type { AclBinding, AclFilter } from '../protocol/acls.js';
export type { ClusterDescription, TopicDescription, PartitionDescription, TopicConfigInput, GroupListing, GroupDescription, Acks, UserListing } from './network/api.js';
export { Producer, type ProducerRecord, type RecordAck } from './producer/producer.js';
export type { ProducerOptions } from './producer/options.js';
export { Consumer, type Assignment, type Message } from './consumer/consumer.js';
export type { ConsumerOptions, ReadFrom, OffsetReset } from './consumer/options.js';
export { partitionForKey, murmur2 } from './producer/partitioner.js';
