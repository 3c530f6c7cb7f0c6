/** Process entry for `flotilla broker start`: the broker, its config and its lifecycle. */
export { Broker, startBroker } from './broker.js';
export { validateBrokerConfig, parseInitialCluster, BROKER_DEFAULTS, type BrokerConfig } from './config.js';
