/**
 * Keys the brokers of a SCRAM cluster share without ever sending them: derived from the
 * inter-broker credential, the bootstrap user's password that every such broker is started
 * with (FLOTILLA_BOOTSTRAP_USER), one key per purpose. PBKDF2 makes a recorded use of a
 * key no cheaper to attack than a recorded SCRAM exchange.
 */
import { pbkdf2Sync } from 'node:crypto';
import type { BrokerConfig } from '../config.js';

const ITERATIONS = 4096;

/** The key for `purpose`, or null where there is no inter-broker credential (--authn none or mtls). */
export function interBrokerKey(config: Pick<BrokerConfig, 'authn' | 'bootstrapUser'>, purpose: 'peer proof' | 'unknown SCRAM users'): Buffer | null {
  const user = config.authn === 'scram' ? config.bootstrapUser : undefined;
  return user ? pbkdf2Sync(user.password, `flotilla ${purpose} ${user.name}`, ITERATIONS, 32, 'sha256') : null;
}
