/**
 * SASL on the Kafka listener (--authn scram): Kafka's SaslHandshake and SaslAuthenticate
 * become the native `saslHandshake` and `saslAuthenticate` requests, so the SCRAM
 * exchange, the users and the principal a connection gets are the native listener's
 * (broker/security/sasl.ts), and a revoked credential closes Kafka connections too.
 *
 * As Kafka's SaslServerAuthenticator does:
 * - before authentication only ApiVersions and the SASL apis are served; any other
 *   request closes the connection (with --authn mtls, a connection without a client
 *   certificate never gets further);
 * - SaslHandshake v1 is followed by SaslAuthenticate requests; v0 by bare tokens, each an
 *   int32 size and the SASL bytes with no request header, answered the same way (clients
 *   older than Kafka 1.0 do this; kafkajs 2.2 and librdkafka 2.0 send v1);
 * - a mechanism not offered answers UNSUPPORTED_SASL_MECHANISM with those offered, and a
 *   SaslAuthenticate out of turn ILLEGAL_SASL_STATE; a failed exchange answers
 *   SASL_AUTHENTICATION_FAILED with the reason (a bare token cannot carry one); each then
 *   closes the connection.
 * Without --authn scram the SASL apis answer ILLEGAL_SASL_STATE, as Kafka's listeners
 * without SASL do.
 */
import { saslMechanismName, SCRAM_MECHANISMS, isScramMechanism } from '../../protocol/scram.js';
import type { KafkaApiName } from '../../protocol/kafka/index.js';
import type { AuthnMode } from '../config.js';
import { asFlotillaError, type ConnectionSession, type Dispatcher, type RequestContext } from '../requests/dispatcher.js';
import { KafkaError } from './errors.js';

/** What a connection may send before it is authenticated. */
const BEFORE_AUTHENTICATION: ReadonlySet<KafkaApiName> = new Set(['ApiVersions', 'SaslHandshake', 'SaslAuthenticate']);

const OFFERED = SCRAM_MECHANISMS.map(saslMechanismName);
const EMPTY = Buffer.alloc(0);

/** A SASL api's answer, and why the connection closes after it (absent: it stays open). */
export interface SaslAnswer<Body> {
  body: Body;
  closeWhy?: string;
}

type HandshakeBody = { errorCode: number; mechanisms: string[] };
type AuthenticateBody = { errorCode: number; errorMessage: string | null; authBytes: Buffer; sessionLifetimeMs: number };

export class KafkaSasl {
  /** Connections between their handshake and their authentication: what carries their tokens. */
  private readonly stage = new WeakMap<ConnectionSession, 'requests' | 'bare tokens'>();

  constructor(
    private readonly authn: AuthnMode,
    private readonly dispatcher: Dispatcher,
  ) {}

  /** Whether a request of `api` may run on this connection now. */
  admits(api: KafkaApiName, session: ConnectionSession): boolean {
    return this.authn === 'none' || session.principal !== undefined || BEFORE_AUTHENTICATION.has(api);
  }

  async handshake(mechanism: string, version: number, context: RequestContext): Promise<SaslAnswer<HandshakeBody>> {
    if (this.authn !== 'scram') return { body: { errorCode: KafkaError.ILLEGAL_SASL_STATE, mechanisms: [] } };
    if (!isScramMechanism(mechanism.toLowerCase())) {
      return { body: { errorCode: KafkaError.UNSUPPORTED_SASL_MECHANISM, mechanisms: OFFERED }, closeWhy: `SASL mechanism ${JSON.stringify(mechanism)} is not offered` };
    }
    try {
      await this.dispatcher.dispatch({ body: 'saslHandshake', saslHandshake: { mechanism } }, context);
    } catch (error) {
      return { body: { errorCode: KafkaError.ILLEGAL_SASL_STATE, mechanisms: OFFERED }, closeWhy: asFlotillaError(error).message };
    }
    this.stage.set(context.session, version === 0 ? 'bare tokens' : 'requests');
    return { body: { errorCode: KafkaError.NONE, mechanisms: OFFERED } };
  }

  async authenticate(authBytes: Buffer, context: RequestContext): Promise<SaslAnswer<AuthenticateBody>> {
    const fail = (errorCode: number, errorMessage: string): SaslAnswer<AuthenticateBody> => ({
      body: { errorCode, errorMessage, authBytes: EMPTY, sessionLifetimeMs: 0 },
      closeWhy: errorMessage,
    });
    if (this.authn !== 'scram') return fail(KafkaError.ILLEGAL_SASL_STATE, `this listener takes no SASL authentication (--authn ${this.authn})`);
    if (this.stage.get(context.session) !== 'requests') {
      return fail(KafkaError.ILLEGAL_SASL_STATE, 'SaslAuthenticate out of turn: send SaslHandshake v1 first, and authenticate once');
    }
    try {
      // No expiry: a revoked credential closes the connection instead (sessionLifetimeMs 0).
      return { body: { errorCode: KafkaError.NONE, errorMessage: null, authBytes: await this.step(authBytes, context), sessionLifetimeMs: 0 } };
    } catch (error) {
      return fail(KafkaError.SASL_AUTHENTICATION_FAILED, asFlotillaError(error).message);
    }
  }

  /** Whether the connection's next frame is a bare SASL token (after a SaslHandshake v0). */
  awaitsRawToken(session: ConnectionSession): boolean {
    return this.stage.get(session) === 'bare tokens';
  }

  /** The answer to a bare token, framed as one; a failure rejects (and the connection closes). */
  async rawToken(token: Buffer, context: RequestContext): Promise<Buffer[]> {
    const answer = await this.step(token, context);
    const size = Buffer.alloc(4);
    size.writeInt32BE(answer.length);
    return [size, answer];
  }

  /** One SCRAM message through the native exchange; authenticated once it returns the server-final message. */
  private async step(bytes: Buffer, context: RequestContext): Promise<Buffer> {
    try {
      const response = await this.dispatcher.dispatch({ body: 'saslAuthenticate', saslAuthenticate: { authBytes: bytes } }, context);
      const answer = response?.saslAuthenticate?.authBytes ?? EMPTY;
      if (context.session.scram) this.stage.delete(context.session);
      return Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength);
    } catch (error) {
      this.stage.delete(context.session);
      throw error;
    }
  }
}
