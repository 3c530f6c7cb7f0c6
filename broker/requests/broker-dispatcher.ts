/**
 * The broker's one Dispatcher: every client request type's handler, and the hooks every
 * request of every listener passes through — metrics first (so they count refused
 * requests too), then, with --authn, authentication and authorization (SPEC section 9).
 */
import type { AdminBroker } from '../admin/admin-handlers.js';
import { adminHandlers } from '../admin/admin-handlers.js';
import type { MetadataBroker } from '../admin/metadata-handlers.js';
import { metadataHandlers } from '../admin/metadata-handlers.js';
import { securityHandlers } from '../admin/security-handlers.js';
import type { BrokerConfig } from '../config.js';
import type { Controller } from '../controller/controller.js';
import type { GroupCoordinator } from '../groups/coordinator.js';
import { groupHandlers } from '../groups/handlers.js';
import type { DataPlane } from '../partition/data-handlers.js';
import { dataHandlers } from '../partition/data-handlers.js';
import { authorizationHook } from '../security/authorization-hook.js';
import { Authorizer } from '../security/authorizer.js';
import { interBrokerKey } from '../security/inter-broker-key.js';
import { authenticationHook, saslHandlers } from '../security/sasl.js';
import { Dispatcher, type RequestHook } from './dispatcher.js';

/** The authorizer of every listener's requests, or null when authorization is off (--authn none). */
export function brokerAuthorizer(config: Pick<BrokerConfig, 'authn' | 'superusers'>, controller: Controller): Authorizer | null {
  return config.authn === 'none' ? null : new Authorizer({ superusers: config.superusers, acls: () => controller.state.acls });
}

export interface BrokerRequestParts {
  config: Pick<BrokerConfig, 'authn' | 'superusers' | 'bootstrapUser'>;
  /** brokerAuthorizer's: shared with listeners that check Kafka-only requests themselves. */
  authorizer: Authorizer | null;
  /** What the data, metadata and admin handlers read and act on. */
  host: DataPlane & MetadataBroker & AdminBroker;
  controller: Controller;
  groups: GroupCoordinator;
  metricsHook: RequestHook;
  /** This broker's own part of the operations console's picture (broker/ops/console-sight.ts). */
  brokerSight: () => unknown;
}

export function brokerDispatcher({ config, authorizer, host, controller, groups, metricsHook, brokerSight }: BrokerRequestParts): Dispatcher {
  const hooks: RequestHook[] = [metricsHook];
  if (authorizer) hooks.push(authenticationHook(config.authn), authorizationHook(authorizer));
  return new Dispatcher(
    {
      ...dataHandlers(host),
      ...metadataHandlers(host),
      ...adminHandlers(host),
      ...groupHandlers(groups),
      ...securityHandlers(controller),
      ...saslHandlers({ authn: config.authn, credentialOf: (name) => controller.state.users.get(name), unknownUserSecret: interBrokerKey(config, 'unknown SCRAM users') ?? undefined }),
      describeBroker: async () => ({ sightJson: JSON.stringify(brokerSight()) }),
    },
    hooks,
  );
}
