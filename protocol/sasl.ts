/**
 * The client's side of the SASL exchange on the native protocol (SPEC section 9), shared
 * by the client library and by brokers that call each other as clients: SaslHandshake
 * names the mechanism, then two SaslAuthenticate requests carry SCRAM's client-first and
 * client-final messages. The transport is the caller's: `send` delivers one step and
 * resolves with the broker's auth bytes (none for the handshake), or rejects with its
 * error (AUTHENTICATION_FAILED, after which the broker closes the connection).
 */
import { ScramClient, saslMechanismName, type ScramMechanism } from './scram.js';

/** What a client authenticates with (the SDK's `sasl` option). */
export interface SaslCredentials {
  mechanism: ScramMechanism;
  username: string;
  password: string;
}

export type SaslStep = { handshake: string } | { authenticate: Buffer };

/** Runs one SCRAM exchange; resolves once the broker proved it holds the user's keys. */
export async function authenticateScram(credentials: SaslCredentials, send: (step: SaslStep) => Promise<Buffer>): Promise<void> {
  const scram = new ScramClient(credentials);
  await send({ handshake: saslMechanismName(credentials.mechanism) });
  const serverFirst = await send({ authenticate: Buffer.from(scram.clientFirst(), 'utf8') });
  const serverFinal = await send({ authenticate: Buffer.from(scram.handleServerFirst(serverFirst.toString('utf8')), 'utf8') });
  scram.handleServerFinal(serverFinal.toString('utf8'));
}
