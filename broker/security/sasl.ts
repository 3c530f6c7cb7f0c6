/**
 * Authentication on the native listener (SPEC section 9): the SaslHandshake and
 * SaslAuthenticate handlers, which run a SCRAM server conversation per connection against
 * the credentials in the controller's state, and the hook that refuses every other request
 * of a connection that is not authenticated yet. A refusal is AUTHENTICATION_FAILED, after
 * which the listener closes the connection.
 *
 * With --authn mtls the listener sets the principal from the client certificate when it
 * accepts the connection, and SASL is refused; with --authn none neither hook nor SASL runs.
 */
import { userPrincipal } from '../../protocol/acls.js';
import { FlotillaError } from '../../protocol/errors.js';
import { isScramMechanism, saslMechanismName, SCRAM_MECHANISMS, ScramServer, type ScramCredential, type ScramMechanism } from '../../protocol/scram.js';
import type { AuthnMode } from '../config.js';
import type { Handlers, RequestHook, RequestType } from '../requests/dispatcher.js';

/** The requests of the exchange itself, the only ones a connection may send before it. */
export const SASL_REQUESTS: ReadonlySet<RequestType> = new Set(['saslHandshake', 'saslAuthenticate']);

export interface SaslOptions {
  authn: AuthnMode;
  /** A user's stored credential (ControllerState.users). */
  credentialOf(name: string): ScramCredential | undefined;
  /** The same on every broker: see ScramServerOptions.unknownUserSecret. */
  unknownUserSecret?: Buffer;
}

/** One connection's SCRAM conversation, from the handshake to the proof. */
class ScramExchange {
  private readonly server: ScramServer;
  /** The credential the conversation started with: replaced or deleted meanwhile means refused. */
  private credential: ScramCredential | undefined;
  private messages = 0;

  constructor(
    readonly mechanism: ScramMechanism,
    private readonly credentialOf: (name: string) => ScramCredential | undefined,
    unknownUserSecret: Buffer | undefined,
  ) {
    this.server = new ScramServer({
      mechanism,
      credentialOf: (name) => (this.credential = credentialOf(name)),
      ...(unknownUserSecret ? { unknownUserSecret } : {}),
    });
  }

  /** The answer to the next client message; `user` is set once the proof checked out. */
  step(message: string): string {
    this.messages++;
    if (this.messages === 1) return this.server.handleClientFirst(message);
    if (this.messages > 2) throw new FlotillaError('AUTHENTICATION_FAILED', 'the SCRAM exchange is already over');
    const answer = this.server.handleClientFinal(message);
    const user = this.server.user!;
    if (this.credentialOf(user) !== this.credential) {
      throw new FlotillaError('AUTHENTICATION_FAILED', `the credential of user "${user}" changed during the SCRAM exchange; authenticate again`);
    }
    return answer;
  }

  get user(): string | undefined {
    return this.server.user;
  }

  /** The credential the proof was checked against (set once the user is known). */
  get provenCredential(): ScramCredential | undefined {
    return this.credential;
  }
}

function refused(message: string): FlotillaError {
  return new FlotillaError('AUTHENTICATION_FAILED', message);
}

const ACCEPTED = SCRAM_MECHANISMS.map(saslMechanismName);

export function saslHandlers(options: SaslOptions): Pick<Handlers, 'saslHandshake' | 'saslAuthenticate'> {
  return {
    saslHandshake: async (request, context) => {
      const session = context.session;
      if (options.authn !== 'scram') throw refused(`this broker does not take SASL authentication (--authn ${options.authn})`);
      // Once per connection. A client certificate's principal (--tls-client-auth) gives way to
      // the SASL user, as Kafka's SASL_SSL listeners take it: clients may show both.
      if (session.scram) throw refused(`the connection is already authenticated as ${session.principal}`);
      const mechanism = request.mechanism.toLowerCase();
      if (!isScramMechanism(mechanism)) throw refused(`SASL mechanism ${JSON.stringify(request.mechanism)} is not supported; this broker accepts ${ACCEPTED.join(', ')}`);
      session.sasl = new ScramExchange(mechanism, options.credentialOf, options.unknownUserSecret);
      return { mechanisms: ACCEPTED };
    },
    saslAuthenticate: async (request, context) => {
      const session = context.session;
      const exchange = session.sasl;
      if (!(exchange instanceof ScramExchange)) throw refused('SaslAuthenticate before SaslHandshake: name the mechanism first');
      try {
        const answer = exchange.step(request.authBytes.toString('utf8'));
        if (exchange.user !== undefined) {
          session.principal = userPrincipal(exchange.user);
          session.scram = { user: exchange.user, credential: exchange.provenCredential! };
          session.sasl = undefined;
        }
        return { authBytes: Buffer.from(answer, 'utf8') };
      } catch (error) {
        session.sasl = undefined;
        throw error instanceof FlotillaError && error.code !== 'INTERNAL' ? error : refused(`the SCRAM exchange failed: ${(error as Error).message}`);
      }
    },
  };
}

/** Refuses every request but SASL's on a connection that has no principal yet. */
export function authenticationHook(authn: AuthnMode): RequestHook {
  const how = authn === 'mtls' ? 'a client certificate (--authn mtls)' : 'SASL/SCRAM authentication first (SaslHandshake, SaslAuthenticate)';
  return (type, context, next) => {
    if (context.session.principal === undefined && !SASL_REQUESTS.has(type)) {
      throw refused(`${type} refused: the connection is not authenticated; this broker requires ${how}`);
    }
    return next();
  };
}

