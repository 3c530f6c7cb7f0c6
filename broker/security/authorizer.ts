/**
 * The authorizer: whether a principal may do an operation on a resource, from the ACL
 * bindings the controller replicates and this broker's superusers (SPEC section 9). Pure:
 * no I/O and no clock; the dispatcher asks, and turns a refusal into NOT_AUTHORIZED.
 *
 * The rules, in order:
 * 1. a superuser may do anything;
 * 2. a binding applies to a request when its principal is the request's or `User:*`, its
 *    resource type is the resource's, and its pattern covers the name (literal: the same
 *    name, or `*`; prefixed: the name starts with it);
 * 3. an applying deny of the operation (or of `all`) refuses, whatever allows it;
 * 4. an applying allow of the operation (or of `all`) permits; `describe` is permitted by
 *    an allow of any operation on the resource (a deny of another operation does not
 *    refuse it);
 * 5. nothing applies: refused.
 *
 * Bindings are indexed by principal, resource type and name, so a check costs a few map
 * lookups however many bindings there are; the index is rebuilt only when the controller
 * hands over a new set (ControllerState.acls is replaced on every change).
 */
import { ANY_USER, CLUSTER_NAME, WILDCARD, describeResource, userPrincipal, type AclBinding, type Operation, type ResourceType } from '../../protocol/acls.js';
import { FlotillaError } from '../../protocol/errors.js';

export interface Resource {
  type: ResourceType;
  name: string;
}

export const CLUSTER: Resource = { type: 'cluster', name: CLUSTER_NAME };

export function topicResource(name: string): Resource {
  return { type: 'topic', name };
}

export function groupResource(name: string): Resource {
  return { type: 'group', name };
}

export interface AuthorizerOptions {
  /** User names that bypass every ACL (`--superusers`). */
  superusers: readonly string[];
  /** The current bindings (ControllerState.acls): a new array whenever the set changes. */
  acls: () => readonly AclBinding[];
}

/** The bindings of one principal on one resource type, by name. */
interface PatternIndex {
  literal: Map<string, AclBinding[]>;
  prefixed: Map<string, AclBinding[]>;
  /** The distinct lengths of the prefixes, so a lookup tries only those. */
  prefixLengths: number[];
}

type Verdict = 'deny' | 'allow' | 'none';

export class Authorizer {
  private readonly superusers: ReadonlySet<string>;
  private indexed: readonly AclBinding[] | undefined;
  /** `${principal}\n${resourceType}` -> its bindings. */
  private index = new Map<string, PatternIndex>();

  constructor(private readonly options: AuthorizerOptions) {
    this.superusers = new Set(options.superusers.map(userPrincipal));
  }

  isSuperuser(principal: string): boolean {
    return this.superusers.has(principal);
  }

  authorize(principal: string, operation: Operation, resource: Resource): boolean {
    if (this.superusers.has(principal)) return true;
    this.refreshIndex();
    const own = this.verdict(this.index.get(indexKey(principal, resource.type)), operation, resource.name);
    if (own === 'deny') return false;
    const everyone = principal === ANY_USER ? 'none' : this.verdict(this.index.get(indexKey(ANY_USER, resource.type)), operation, resource.name);
    return everyone === 'allow' || (own === 'allow' && everyone !== 'deny');
  }

  /** Throws NOT_AUTHORIZED naming principal, operation and resource unless `authorize` permits. */
  check(principal: string, operation: Operation, resource: Resource): void {
    if (!this.authorize(principal, operation, resource)) throw notAuthorized(principal, operation, resource);
  }

  /**
   * Whether some resource of `type` permits the operation: Kafka's rule for an idempotent
   * producer id ("write on any topic"). A literal binding counts when its name is
   * permitted; `*` or a prefix counts unless a deny of `*`, or of a prefix of that
   * prefix, refuses every name it covers. (Denies that together cover every name a prefix
   * allows, one extension at a time, are not looked for.)
   */
  authorizeAny(principal: string, operation: Operation, type: ResourceType): boolean {
    if (this.superusers.has(principal)) return true;
    const bindings = this.refreshIndex().filter((b) => b.resourceType === type && appliesTo(b, principal));
    const deniesAll = (prefix: string | undefined) =>
      bindings.some((d) => d.permission === 'deny' && covers(d.operation, operation) && (d.patternType === 'literal' ? d.resourceName === WILDCARD : prefix?.startsWith(d.resourceName)));
    return bindings.some((b) => {
      if (b.permission !== 'allow' || !grants(b.operation, operation)) return false;
      if (b.patternType === 'prefixed') return !deniesAll(b.resourceName);
      if (b.resourceName === WILDCARD) return !deniesAll(undefined);
      return this.authorize(principal, operation, { type, name: b.resourceName });
    });
  }

  /** The verdict of one principal's bindings on a name. */
  private verdict(index: PatternIndex | undefined, operation: Operation, name: string): Verdict {
    if (!index) return 'none';
    let verdict = judge(index.literal.get(name), operation, 'none');
    if (name !== WILDCARD) verdict = judge(index.literal.get(WILDCARD), operation, verdict);
    for (const length of index.prefixLengths) {
      if (length > name.length) break;
      verdict = judge(index.prefixed.get(name.slice(0, length)), operation, verdict);
    }
    return verdict;
  }

  /** Re-indexes when the controller's set is a new one; returns the set. */
  private refreshIndex(): readonly AclBinding[] {
    const acls = this.options.acls();
    if (acls === this.indexed) return acls;
    const index = new Map<string, PatternIndex>();
    for (const binding of acls) {
      const key = indexKey(binding.principal, binding.resourceType);
      let entry = index.get(key);
      if (!entry) index.set(key, (entry = { literal: new Map(), prefixed: new Map(), prefixLengths: [] }));
      const byName = binding.patternType === 'prefixed' ? entry.prefixed : entry.literal;
      const list = byName.get(binding.resourceName);
      if (list) list.push(binding);
      else byName.set(binding.resourceName, [binding]);
    }
    for (const entry of index.values()) entry.prefixLengths = [...new Set([...entry.prefixed.keys()].map((p) => p.length))].sort((a, b) => a - b);
    this.index = index;
    this.indexed = acls;
    return acls;
  }
}

function indexKey(principal: string, type: ResourceType): string {
  return `${principal}\n${type}`;
}

function appliesTo(binding: AclBinding, principal: string): boolean {
  return binding.principal === principal || binding.principal === ANY_USER;
}

/** Whether a binding's operation is the requested one (or `all`). */
function covers(bound: AclBinding['operation'], requested: Operation): boolean {
  return bound === requested || bound === 'all';
}

/** Whether an allow of `bound` permits `requested`: describe comes with any operation. */
function grants(bound: AclBinding['operation'], requested: Operation): boolean {
  return covers(bound, requested) || requested === 'describe';
}

/** Folds `bindings` into `verdict`: any deny of the operation wins; else any allow that grants it. */
function judge(bindings: AclBinding[] | undefined, operation: Operation, verdict: Verdict): Verdict {
  if (!bindings || verdict === 'deny') return verdict;
  for (const b of bindings) {
    if (b.permission === 'deny') {
      if (covers(b.operation, operation)) return 'deny';
    } else if (grants(b.operation, operation)) {
      verdict = 'allow';
    }
  }
  return verdict;
}

/** NOT_AUTHORIZED, naming who may not do what to which resource. */
export function notAuthorized(principal: string, operation: Operation, resource: Resource): FlotillaError {
  return new FlotillaError('NOT_AUTHORIZED', `${principal} may not ${operation} ${describeResource(resource.type, resource.name)}: no ACL allows it, or one denies it`, {
    principal,
    operation,
    resourceType: resource.type,
    resourceName: resource.name,
  });
}
