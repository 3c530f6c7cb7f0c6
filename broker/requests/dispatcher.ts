/**
 * The seam between a listener, which speaks a wire protocol, and the handlers, which do
 * what requests ask. A listener decodes a request into the client protocol's request
 * body, passes it with its connection's context to `Dispatcher.dispatch`, and encodes the
 * answer; so another listener (another wire protocol) reuses every handler as it is.
 * Every request passes the hooks in one place, in order, around its handler: where an
 * authorizer or a counter of requests by API, error code and duration goes.
 */
import { FlotillaError, toFlotillaError } from '../../protocol/errors.js';
import type { Init, client } from '../../protocol/codec.js';
import type { ScramCredential } from '../../protocol/scram.js';

/** The request types of the client protocol: the names of its request bodies. */
export type RequestType = NonNullable<client.Request['body']>;
export type RequestOf<T extends RequestType> = NonNullable<client.Request[T]>;
export type ResponseOf<T extends RequestType> = Init<NonNullable<client.Response[T]>>;
/** A response envelope without its correlation id (the listener adds it). */
export type ResponseBody = Omit<Init<client.Response>, 'correlationId'>;

/**
 * The response bytes a request holds of its listener's memory budgets. `take` waits until
 * `bytes` more fit (a fetch sets its byte limit aside before it reads); `resize` holds
 * exactly `bytes` from now on, without waiting (a long poll gives its share back).
 */
export interface ResponseMemory {
  take(bytes: number): Promise<void>;
  resize(bytes: number): void;
}

/** Who is at the other end of a client connection, as its listener established it. */
export interface ConnectionIdentity {
  /** The authenticated principal, `User:NAME` (mTLS: the certificate's CN); absent: not known yet. */
  readonly principal?: string;
  /** The connection failed to authenticate: its first request gets this error, then it closes. */
  readonly refusal?: FlotillaError;
}

/** Who is on a connection: one object per connection, shared by all its requests. */
export interface ConnectionSession {
  /**
   * `User:NAME` once the connection is authenticated, undefined before (and always with
   * --authn none). Set by the SASL exchange (--authn scram, broker/security/sasl.ts) or,
   * with --authn mtls, by the TLS listener when it accepts the connection: `User:<CN of
   * the client certificate>`.
   */
  principal?: string;
  /** A SASL exchange in progress (its state is broker/security/sasl.ts's business). */
  sasl?: unknown;
  /** The SCRAM user and the credential it proved (--authn scram): checked again when the metadata jumps to a snapshot. */
  scram?: { user: string; credential: ScramCredential };
}

/** Closes each connection whose session `revoked` picks (its credential is gone); how many. */
export function closeSessions(connections: ReadonlyMap<{ destroy(): void }, ConnectionSession>, revoked: (session: ConnectionSession) => boolean): number {
  let closed = 0;
  for (const [socket, session] of connections) {
    if (!revoked(session)) continue;
    socket.destroy();
    closed++;
  }
  return closed;
}

/**
 * Per-topic and per-group checks of one request, for a request that names several or
 * lists them (set by the authorization hook; absent when authorization is off): the
 * refusal to answer for that topic or group, or undefined when it is allowed.
 */
export interface RequestAccess {
  topic(name: string): FlotillaError | undefined;
  group(name: string): FlotillaError | undefined;
}

/** What a handler knows of who asked, and on which connection. */
export interface RequestContext {
  /** The id the client gave itself (the request's clientId). */
  readonly clientId: string;
  /** The connection's authenticated principal (ConnectionIdentity); absent: anonymous. */
  readonly principal?: string;
  /** HOST:PORT of the connection's far end. */
  readonly remote: string;
  readonly memory: ResponseMemory;
  readonly session: ConnectionSession;
  readonly access?: RequestAccess;
}

/** The refusal of `topic` for this request, if authorization is on and refuses it. */
export function topicRefusal(context: RequestContext, topic: string): FlotillaError | undefined {
  return context.access?.topic(topic);
}

/** The refusal of `group` for this request, if authorization is on and refuses it. */
export function groupRefusal(context: RequestContext, group: string): FlotillaError | undefined {
  return context.access?.group(group);
}

/** Answers one request type: its response body, or null for a request that gets no answer (produce with acks none). Throws the request's error. */
export type Handler<T extends RequestType> = (request: RequestOf<T>, context: RequestContext) => Promise<ResponseOf<T> | null>;

/** Handlers by request type; a type with none is answered INVALID_REQUEST. */
export type Handlers = { [T in RequestType]?: Handler<T> };

/**
 * Runs around one request: calls `next` to go on (to the next hook, then the handler) and
 * returns what it returns, or throws to refuse the request. Sees the handler's error as
 * `next` rejecting. `next(context)` passes a context of its own to what follows (the
 * authorization hook adds `access`). `request` is the request's body.
 */
export type RequestHook = (
  type: RequestType,
  context: RequestContext,
  next: (context?: RequestContext) => Promise<unknown>,
  request: RequestOf<RequestType>,
) => Promise<unknown>;

/** Any failure as a FlotillaError; one the broker did not expect is INTERNAL. */
export function asFlotillaError(error: unknown): FlotillaError {
  return toFlotillaError(error, 'internal error');
}

export class Dispatcher {
  private readonly handlers: Handlers;

  constructor(handlers: Handlers, private readonly hooks: readonly RequestHook[] = []) {
    this.handlers = { ...handlers };
  }

  /** The response body for `request`, or null when it gets no answer; throws the request's error. */
  async dispatch(request: Pick<client.Request, 'body'> & Partial<client.Request>, context: RequestContext): Promise<ResponseBody | null> {
    const type = request.body;
    if (type === undefined) throw new FlotillaError('INVALID_REQUEST', 'the request has no body');
    const handler = this.handlers[type] as Handler<RequestType> | undefined;
    if (!handler) throw new FlotillaError('INVALID_REQUEST', `request type "${type}" is not available on this broker yet`);
    const body = request[type] as RequestOf<RequestType>;
    let next = (inner: RequestContext): Promise<unknown> => handler(body, inner);
    for (const hook of [...this.hooks].reverse()) {
      const following = next;
      next = (outer) => hook(type, outer, (changed) => following(changed ?? outer), body);
    }
    const response = await next(context);
    return response === null ? null : { [type]: response };
  }
}
