/**
 * Records this broker's Kafka address (--kafka-advertise, or none) in the metadata, where
 * every broker's Kafka Metadata answer finds it: until the metadata shows it, asks the
 * controller (through this broker's own port, which follows NOT_CONTROLLER) once a second.
 */
import type { Logger } from 'pino';
import { controllerRequest, type InterBrokerAccess } from '../cluster-request.js';
import type { BrokerConfig } from '../config.js';
import type { Controller } from '../controller/controller.js';
import { Periodic } from '../periodic.js';

const CHECK_MS = 1000;
const REQUEST_TIMEOUT_MS = 5000;

export class KafkaAddressRegistration {
  private readonly periodic = new Periodic(CHECK_MS, () => void this.check());
  private asking = false;

  constructor(
    private readonly config: Pick<BrokerConfig, 'id' | 'advertise' | 'kafkaAdvertise'>,
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
    const wanted = this.config.kafkaAdvertise ?? '';
    const known = this.controller.state.brokers.get(this.config.id);
    if (this.asking || !known || (known.kafkaAddress ?? '') === wanted || !this.controller.leaderId) return;
    this.asking = true;
    try {
      await controllerRequest([this.config.advertise], { registerBroker: { brokerId: this.config.id, address: known.address, kafkaAddress: wanted } }, REQUEST_TIMEOUT_MS, this.access);
      this.logger.info({ kafkaAddress: wanted || null }, 'recorded the Kafka listener\'s address in the metadata');
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, 'could not record the Kafka address yet; retrying');
    } finally {
      this.asking = false;
    }
  }
}
