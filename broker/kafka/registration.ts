/**
 * Records what Kafka clients need to know of this broker in the metadata, where every
 * broker's Kafka Metadata answer (and follower fetching) finds it: its Kafka address
 * (--kafka-advertise, or none) and its rack (--rack, or none). Until the metadata shows
 * both, asks the controller (through this broker's own port, which follows NOT_CONTROLLER)
 * once a second.
 */
import type { Logger } from 'pino';
import { controllerRequest, type InterBrokerAccess } from '../cluster-request.js';
import type { BrokerConfig } from '../config.js';
import type { Controller } from '../controller/controller.js';
import { Periodic } from '../periodic.js';

const CHECK_MS = 1000;
const REQUEST_TIMEOUT_MS = 5000;

export class KafkaRegistration {
  private readonly periodic = new Periodic(CHECK_MS, () => void this.check());
  private asking = false;

  constructor(
    private readonly config: Pick<BrokerConfig, 'id' | 'advertise' | 'kafkaAdvertise' | 'rack'>,
    private readonly access: InterBrokerAccess,
    private readonly controller: Controller,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.periodic.start();
  }

  stop(): void {
    this.periodic.stop();
  }

  private async check(): Promise<void> {
    const kafkaAddress = this.config.kafkaAdvertise ?? '';
    const rack = this.config.rack ?? '';
    const known = this.controller.state.brokers.get(this.config.id);
    if (this.asking || !known || !this.controller.leaderId) return;
    if ((known.kafkaAddress ?? '') === kafkaAddress && (known.rack ?? '') === rack) return;
    this.asking = true;
    try {
      await controllerRequest([this.config.advertise], { registerBroker: { brokerId: this.config.id, address: known.address, kafkaAddress, rack } }, REQUEST_TIMEOUT_MS, this.access);
      this.logger.info({ kafkaAddress: kafkaAddress || null, rack: rack || null }, 'recorded the Kafka listener\'s address and the rack in the metadata');
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, 'could not record the Kafka address and rack yet; retrying');
    } finally {
      this.asking = false;
    }
  }
}
