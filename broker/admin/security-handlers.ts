/**
 * Users and ACLs (SPEC section 9): commands to the controller (its leader answers; others
 * say NOT_CONTROLLER), needing alter on the cluster. Credentials arrive derived by the
 * client (salt, StoredKey, ServerKey): no password reaches a broker. Listings never show
 * salts or keys.
 */
import { validateAclBinding, type AclFilter } from '../../protocol/acls.js';
import type { client } from '../../protocol/codec.js';
import { FlotillaError } from '../../protocol/errors.js';
import { validateScramCredential, type ScramCredential } from '../../protocol/scram.js';
import type { Controller } from '../controller/controller.js';
import type { Handlers } from '../requests/dispatcher.js';

const TIMEOUT_MS = 30_000;

type SecurityRequests = 'createUser' | 'alterUser' | 'deleteUser' | 'listUsers' | 'createAcls' | 'listAcls' | 'deleteAcls';

export function securityHandlers(controller: Controller): Pick<Handlers, SecurityRequests> {
  const leader = (): Controller => {
    if (!controller.isLeader) throw controller.notController();
    return controller;
  };
  return {
    createUser: async (request) => {
      const name = userName(request.name);
      const credential = credentialOf(request.credential);
      if (!leader().state.userCreatedAlready(name, credential)) await controller.propose({ type: 'upsertUser', name, ...credential }, TIMEOUT_MS);
      return {};
    },
    alterUser: async (request) => {
      const name = userName(request.name);
      const credential = credentialOf(request.credential);
      leader().state.requireUser(name);
      await controller.propose({ type: 'upsertUser', name, ...credential }, TIMEOUT_MS);
      return {};
    },
    deleteUser: async (request) => {
      const name = userName(request.name);
      leader().state.requireUser(name);
      await controller.propose({ type: 'deleteUser', name }, TIMEOUT_MS);
      return {};
    },
    listUsers: async () => ({ users: leader().state.listUsers() }),
    createAcls: async (request) => {
      const acls = request.acls.map((acl) => validateAclBinding(acl));
      leader();
      for (const acl of acls) await controller.propose({ type: 'createAcl', acl }, TIMEOUT_MS);
      return {};
    },
    listAcls: async (request) => ({ acls: leader().state.matchingAcls(aclFilterOf(request.filter)) }),
    deleteAcls: async (request) => {
      const filter = aclFilterOf(request.filter);
      const deleted = leader().state.matchingAcls(filter);
      if (deleted.length > 0) await controller.propose({ type: 'deleteAcls', filter }, TIMEOUT_MS);
      return { deleted };
    },
  };
}

function userName(name: string): string {
  if (!name || /[\s,:]/.test(name)) throw new FlotillaError('INVALID_REQUEST', `a user name must be non-empty, without spaces, commas or colons; got ${JSON.stringify(name)}`);
  return name;
}

function credentialOf(credential: client.ScramCredential | null): ScramCredential {
  if (!credential) throw new FlotillaError('INVALID_REQUEST', 'the request carries no SCRAM credential');
  return validateScramCredential({ ...credential });
}

/** The wire's filter (absent fields null) as an AclFilter (absent fields absent). */
function aclFilterOf(filter: client.AclFilter | null): AclFilter {
  const out: AclFilter = {};
  if (!filter) return out;
  for (const field of ['principal', 'permission', 'operation', 'resourceType', 'resourceName', 'patternType'] as const) {
    const value = filter[field];
    if (value != null) (out as Record<string, string>)[field] = value;
  }
  return out;
}

