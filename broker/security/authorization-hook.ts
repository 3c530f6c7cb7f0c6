/**
 * Authorization as one dispatcher hook (SPEC section 9): before a request runs, the
 * whole-request checks of REQUEST_ACLS (cluster, the group it names, the one topic it
 * names, "any topic"); then the request goes on with `access` in its context, through
 * which handlers of requests that name or list several topics or groups answer each one on
 * its own (refused, or left out of a listing).
 */
import { FlotillaError } from '../../protocol/errors.js';
import type { RequestHook } from '../requests/dispatcher.js';
import type { Authorizer } from './authorizer.js';
import { groupRefusal, requestRefusal, topicRefusal } from './request-acls.js';
import { SASL_REQUESTS } from './sasl.js';

/** A string field of a request body, or undefined. */
function stringField(request: unknown, field: 'groupId' | 'topic'): string | undefined {
  const value = (request as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : undefined;
}

export function authorizationHook(authorizer: Authorizer): RequestHook {
  return (type, context, next, request) => {
    const principal = context.session.principal;
    // Authentication needs no permission: it is how a connection gets its principal.
    if (SASL_REQUESTS.has(type)) return next();
    // The authentication hook runs first; this only guards against a listener without it.
    if (principal === undefined) throw new FlotillaError('AUTHENTICATION_FAILED', `${type} refused: the connection is not authenticated`);
    const refusal = requestRefusal(authorizer, principal, type, stringField(request, 'groupId') ?? '');
    if (refusal) throw refusal;
    // Requests about one topic (describe, alter, reset offsets) are refused as a whole.
    const topic = stringField(request, 'topic');
    const topicRefused = topic === undefined ? undefined : topicRefusal(authorizer, principal, type, topic);
    if (topicRefused) throw topicRefused;
    return next({
      ...context,
      access: {
        topic: (name) => topicRefusal(authorizer, principal, type, name),
        group: (name) => groupRefusal(authorizer, principal, type, name),
      },
    });
  };
}
