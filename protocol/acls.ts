/**
 * Access control lists (SPEC section 9): what an ACL binding is, the rules a well-formed
 * one follows, and the filters that list and delete them. Shared by the broker (which
 * stores and evaluates them: broker/security/authorizer.ts) and the CLI and SDK (which
 * build and print them).
 */
import { FlotillaError } from './errors.js';
import { validateTopicName } from './topics.js';

export const ACL_OPERATIONS = ['read', 'write', 'create', 'delete', 'alter', 'describe', 'all'] as const;
export type AclOperation = (typeof ACL_OPERATIONS)[number];
/** What a request needs: one operation (`all` exists only in bindings, where it grants or denies each). */
export type Operation = Exclude<AclOperation, 'all'>;

export const RESOURCE_TYPES = ['topic', 'group', 'cluster'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

export type PatternType = 'literal' | 'prefixed';
export type Permission = 'allow' | 'deny';

/** The one cluster resource's name. */
export const CLUSTER_NAME = '';
/** A literal resource name that names every resource of its type (as in Kafka; never a topic's name). */
export const WILDCARD = '*';
export const PRINCIPAL_PREFIX = 'User:';
/** The principal of a binding that applies to every user. */
export const ANY_USER = 'User:*';

export interface AclBinding {
  /** `User:NAME`, or `User:*` for every user. */
  principal: string;
  permission: Permission;
  operation: AclOperation;
  resourceType: ResourceType;
  /** A name, `*` for every name, or (prefixed) the start of every name it covers; '' for the cluster. */
  resourceName: string;
  patternType: PatternType;
}

/** Selects bindings for `acl list` and `acl delete`: each field given must be equal; absent fields match anything. */
export type AclFilter = Partial<AclBinding>;

/** The principal of an authenticated user. */
export function userPrincipal(name: string): string {
  return PRINCIPAL_PREFIX + name;
}

/**
 * Throws INVALID_REQUEST naming the first problem unless `value` is a well-formed binding;
 * returns it with exactly the binding's fields. Prefixes are never empty (`*` says "all").
 */
export function validateAclBinding(value: unknown): AclBinding {
  if (typeof value !== 'object' || value === null) throw invalidAcl('expected an object');
  const b = value as Record<string, unknown>;
  const oneOf = <T extends string>(field: string, allowed: readonly T[]): T => {
    if (!allowed.includes(b[field] as T)) throw invalidAcl(`${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(b[field])}`);
    return b[field] as T;
  };
  const principal = b.principal;
  if (typeof principal !== 'string' || !principal.startsWith(PRINCIPAL_PREFIX) || principal.length === PRINCIPAL_PREFIX.length) {
    throw invalidAcl(`principal must be User:NAME or User:*, got ${JSON.stringify(principal)}`);
  }
  const permission = oneOf('permission', ['allow', 'deny'] as const);
  const operation = oneOf('operation', ACL_OPERATIONS);
  const resourceType = oneOf('resourceType', RESOURCE_TYPES);
  const patternType = oneOf('patternType', ['literal', 'prefixed'] as const);
  const resourceName = b.resourceName;
  if (typeof resourceName !== 'string') throw invalidAcl(`resourceName must be a string, got ${JSON.stringify(resourceName)}`);
  if (resourceType === 'cluster') {
    if (resourceName !== CLUSTER_NAME || patternType !== 'literal') throw invalidAcl('a cluster binding has no resource name and is literal');
  } else if (resourceName === '') {
    throw invalidAcl(`the ${resourceType} name is empty (use "*" for every ${resourceType})`);
  } else if (resourceName === WILDCARD && patternType === 'prefixed') {
    throw invalidAcl('"*" is not a prefix; use it as a literal name for every resource');
  } else if (resourceType === 'topic' && resourceName !== WILDCARD) {
    // A prefix need only start legal names: "." and ".." are fine as prefixes.
    const legalName = patternType === 'prefixed' && /^\.\.?$/.test(resourceName) ? `${resourceName}x` : resourceName;
    try {
      validateTopicName(legalName);
    } catch (error) {
      throw invalidAcl((error as Error).message);
    }
  }
  return { principal, permission, operation, resourceType, resourceName, patternType };
}

function invalidAcl(problem: string): FlotillaError {
  return new FlotillaError('INVALID_REQUEST', `invalid ACL: ${problem}`);
}

const BINDING_FIELDS = ['principal', 'permission', 'operation', 'resourceType', 'resourceName', 'patternType'] as const;

export function aclMatchesFilter(binding: AclBinding, filter: AclFilter): boolean {
  return BINDING_FIELDS.every((field) => filter[field] === undefined || filter[field] === binding[field]);
}

export function sameAcl(a: AclBinding, b: AclBinding): boolean {
  return BINDING_FIELDS.every((field) => a[field] === b[field]);
}

/** `topic "orders"`, `topics prefixed "orders."`, `every group`, `the cluster`: for messages and listings. */
export function describeResource(type: ResourceType, name: string, patternType: PatternType = 'literal'): string {
  if (type === 'cluster') return 'the cluster';
  if (name === WILDCARD && patternType === 'literal') return `every ${type}`;
  return patternType === 'prefixed' ? `${type}s prefixed ${JSON.stringify(name)}` : `${type} ${JSON.stringify(name)}`;
}

/** One line for `acl list`: `User:alice allow read on topics prefixed "orders."`. */
export function formatAcl(binding: AclBinding): string {
  return `${binding.principal} ${binding.permission} ${binding.operation} on ${describeResource(binding.resourceType, binding.resourceName, binding.patternType)}`;
}
