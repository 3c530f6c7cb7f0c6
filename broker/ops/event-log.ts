/**
 * The metadata changes an operator follows, one info line each on every broker as it
 * applies them: brokers joining and leaving, topics created and deleted, partition moves
 * starting and finishing, a metadata snapshot adopted (one line for the state it brings).
 * (Each broker's own Raft decisions are in multiraft/decision-log.ts.)
 */
import type { Logger } from 'pino';
import type { ControllerEvent } from '../controller/state.js';

export function logControllerEvent(logger: Logger, term: number, event: ControllerEvent): void {
  switch (event.type) {
    case 'brokerRegistered':
      logger.info({ joined: event.broker.id, address: event.broker.address, term }, 'a broker joined the cluster');
      return;
    case 'brokerRemoved':
      logger.info({ removed: event.id, term }, 'a broker was removed from the cluster');
      return;
    case 'snapshotAdopted':
      logger.info({ index: event.index, term }, 'metadata snapshot adopted');
      return;
    case 'topicCreated':
      if (event.fromSnapshot) return; // the adoption's one line stands for them
      logger.info({ topic: event.topic.name, partitions: event.topic.partitions.length, term }, 'topic created');
      return;
    case 'topicDeleted':
      logger.info({ topic: event.topic.name, term }, 'topic deleted');
      return;
    case 'partitionMoving':
      logger.info({ topic: event.topic.name, partition: event.assignment.partition, from: event.assignment.previous, to: event.assignment.replicas, term }, 'partition move started');
      return;
    case 'partitionMoved':
      logger.info({ topic: event.topic.name, partition: event.assignment.partition, replicas: event.assignment.replicas, term }, 'partition move finished');
      return;
    default:
      return;
  }
}
