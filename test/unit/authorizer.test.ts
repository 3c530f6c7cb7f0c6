// ACLs: the binding rules, the authorizer (a table of decisions and a property test
// against a reference model that spells out every fact each binding states), and what
// each request type needs.
import t from 'tap';
import fc from 'fast-check';
import { formatAcl, validateAclBinding, type AclBinding, type AclOperation, type Operation, type ResourceType } from '../../protocol/acls.js';
import { Authorizer, CLUSTER, groupResource, topicResource, type Resource } from '../../broker/security/authorizer.js';
import { REQUEST_ACLS, groupRefusal, requestRefusal, topicRefusal, type RequestType } from '../../broker/security/request-acls.js';

function acl(principal: string, permission: 'allow' | 'deny', operation: AclOperation, resource: Resource, patternType: 'literal' | 'prefixed' = 'literal'): AclBinding {
  return validateAclBinding({ principal, permission, operation, resourceType: resource.type, resourceName: resource.name, patternType });
}

const topic = topicResource;
const group = groupResource;

t.test('the authorizer decides by principal, pattern, deny-wins and implied describe', async (t) => {
  const acls = [
    acl('User:alice', 'allow', 'read', topic('orders')),
    acl('User:alice', 'allow', 'write', topic('logs.'), 'prefixed'),
    acl('User:alice', 'deny', 'write', topic('logs.audit')),
    acl('User:*', 'allow', 'describe', topic('*')),
    acl('User:bob', 'allow', 'all', group('team-b.'), 'prefixed'),
    acl('User:*', 'deny', 'read', group('team-b.locked')),
    acl('User:carol', 'allow', 'create', CLUSTER),
    acl('User:mallory', 'deny', 'all', topic('*')),
    acl('User:mallory', 'allow', 'read', topic('orders')),
    acl('User:erin', 'allow', 'read', topic('secret')),
    acl('User:erin', 'deny', 'describe', topic('secret')),
  ];
  const authorizer = new Authorizer({ superusers: ['root'], acls: () => acls });
  const table: Array<[string, Operation, Resource, boolean, string]> = [
    ['User:alice', 'read', topic('orders'), true, 'a literal allow'],
    ['User:alice', 'write', topic('orders'), false, 'allowed to read, not to write'],
    ['User:alice', 'read', topic('orders2'), false, 'a literal name covers only itself'],
    ['User:alice', 'write', topic('logs.app'), true, 'a prefixed allow'],
    ['User:alice', 'write', topic('logs'), false, 'the prefix "logs." does not cover "logs"'],
    ['User:alice', 'write', topic('logs.audit'), false, 'a deny wins over an allow'],
    ['User:alice', 'describe', topic('logs.audit'), true, 'a deny of write does not refuse describe'],
    ['User:zed', 'describe', topic('anything'), true, 'User:* and the name * apply to everyone and everything'],
    ['User:zed', 'read', topic('anything'), false, 'no binding allows it: refused'],
    ['User:bob', 'read', group('team-b.x'), true, 'all grants read'],
    ['User:bob', 'delete', group('team-b.x'), true, 'all grants delete'],
    ['User:bob', 'read', group('team-b.locked'), false, 'a deny for User:* applies to bob'],
    ['User:bob', 'describe', group('team-b.locked'), true, 'describe comes with the allow of all'],
    ['User:bob', 'read', group('team-a.x'), false, 'another prefix'],
    ['User:bob', 'read', topic('team-b.x'), false, 'a group binding says nothing about topics'],
    ['User:carol', 'create', CLUSTER, true, 'a cluster binding'],
    ['User:carol', 'describe', CLUSTER, true, 'describe implied by create'],
    ['User:carol', 'alter', CLUSTER, false, 'create is not alter'],
    ['User:carol', 'create', topic('new'), false, 'a cluster binding is not a topic binding'],
    ['User:mallory', 'read', topic('orders'), false, 'a deny of all on * wins over a literal allow'],
    ['User:mallory', 'describe', topic('orders'), false, 'a deny of all refuses describe too'],
    ['User:erin', 'read', topic('secret'), true, 'read allowed'],
    ['User:erin', 'describe', topic('secret'), false, 'while describe is denied outright'],
    ['User:root', 'delete', topic('orders'), true, 'a superuser bypasses ACLs'],
    ['User:root', 'alter', CLUSTER, true, 'a superuser bypasses ACLs'],
    ['User:*', 'describe', topic('x'), true, 'a principal named User:* gets only what User:* bindings give'],
    ['User:*', 'read', topic('orders'), false, 'a principal named User:* gets only what User:* bindings give'],
  ];
  for (const [principal, operation, resource, expected, why] of table) {
    t.equal(authorizer.authorize(principal, operation, resource), expected, `${principal} ${operation} ${resource.type} "${resource.name}": ${why}`);
  }

  const anyTopic: Array<[string, Operation, boolean, string]> = [
    ['User:alice', 'write', true, 'topics prefixed "logs." (but not logs.audit)'],
    ['User:zed', 'write', false, 'no binding'],
    ['User:zed', 'describe', true, 'User:* describes *'],
    ['User:mallory', 'read', false, 'the deny of all on * refuses the one allow'],
    ['User:root', 'delete', true, 'a superuser'],
  ];
  for (const [principal, operation, expected, why] of anyTopic) {
    t.equal(authorizer.authorizeAny(principal, operation, 'topic'), expected, `${principal} ${operation} any topic: ${why}`);
  }
});

t.test('a refusal names principal, operation and resource', async (t) => {
  const authorizer = new Authorizer({ superusers: [], acls: () => [] });
  t.throws(() => authorizer.check('User:bob', 'read', group('payments')), {
    code: 'NOT_AUTHORIZED',
    retriable: false,
    message: 'User:bob may not read group "payments": no ACL allows it, or one denies it',
    details: { principal: 'User:bob', operation: 'read', resourceType: 'group', resourceName: 'payments' },
  });
  t.throws(() => authorizer.check('User:bob', 'alter', CLUSTER), { message: /^User:bob may not alter the cluster:/ });
  t.doesNotThrow(() => new Authorizer({ superusers: ['bob'], acls: () => [] }).check('User:bob', 'alter', CLUSTER));
});

t.test('the authorizer follows the controller\'s set as it is replaced', async (t) => {
  let acls: readonly AclBinding[] = [];
  const authorizer = new Authorizer({ superusers: [], acls: () => acls });
  t.equal(authorizer.authorize('User:alice', 'read', topic('orders')), false);
  acls = [...acls, acl('User:alice', 'allow', 'read', topic('orders'))];
  t.equal(authorizer.authorize('User:alice', 'read', topic('orders')), true, 'a new binding counts at once');
  acls = [...acls, acl('User:alice', 'deny', 'read', topic('ord'), 'prefixed')];
  t.equal(authorizer.authorize('User:alice', 'read', topic('orders')), false, 'and so does a new deny');
  acls = [];
  t.equal(authorizer.authorize('User:alice', 'read', topic('orders')), false);
});

// ---------------------------------------------------------------------------------------
// Property test: the indexed authorizer against a reference model over a small universe.

const PRINCIPALS = ['User:alice', 'User:bob', 'User:carol'];
const OPERATIONS: Operation[] = ['read', 'write', 'create', 'delete', 'alter', 'describe'];
/** Every name of 1-4 letters of a, b, c. Bindings use only a and b, so a name with c escapes every literal and every longer prefix. */
const NAMES = (() => {
  const names: string[] = [];
  let level = [''];
  for (let length = 1; length <= 4; length++) {
    level = level.flatMap((prefix) => ['a', 'b', 'c'].map((c) => prefix + c));
    names.push(...level);
  }
  return names;
})();
const namesOf = (type: ResourceType) => (type === 'cluster' ? [''] : NAMES);

/**
 * The reference: expands every binding into the facts it states, "principal may (not) do
 * operation on type/name", for every name of the universe, then reads a decision off the
 * two sets. No index, no early exit, no pattern logic beyond "which names does it cover".
 */
function referenceModel(acls: readonly AclBinding[], superusers: string[]) {
  const allowed = new Set<string>();
  const denied = new Set<string>();
  for (const b of acls) {
    const principals = b.principal === 'User:*' ? [...PRINCIPALS, 'User:*'] : [b.principal];
    const names = namesOf(b.resourceType).filter((name) =>
      b.patternType === 'prefixed' ? name.slice(0, b.resourceName.length) === b.resourceName : b.resourceName === '*' || b.resourceName === name,
    );
    const operations = b.operation === 'all' ? OPERATIONS : b.permission === 'allow' ? [b.operation, 'describe'] : [b.operation];
    for (const p of principals) for (const name of names) for (const op of operations) (b.permission === 'allow' ? allowed : denied).add(`${p} ${op} ${b.resourceType}/${name}`);
  }
  const authorize = (principal: string, operation: Operation, type: ResourceType, name: string) => {
    const fact = `${principal} ${operation} ${type}/${name}`;
    return superusers.some((s) => `User:${s}` === principal) || (allowed.has(fact) && !denied.has(fact));
  };
  const authorizeAny = (principal: string, operation: Operation, type: ResourceType) => namesOf(type).some((name) => authorize(principal, operation, type, name));
  return { authorize, authorizeAny };
}

const aclName = fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 3 }).map((letters) => letters.join(''));
const bindingArb: fc.Arbitrary<AclBinding> = fc
  .record({
    principal: fc.constantFrom('User:alice', 'User:bob', 'User:*'),
    permission: fc.constantFrom<'allow' | 'deny'>('allow', 'allow', 'deny'),
    operation: fc.constantFrom<AclOperation>('read', 'write', 'create', 'delete', 'alter', 'describe', 'all'),
    resourceType: fc.constantFrom<ResourceType>('topic', 'topic', 'group', 'cluster'),
    resourceName: fc.oneof({ weight: 1, arbitrary: fc.constant('*') }, { weight: 6, arbitrary: aclName }),
    patternType: fc.constantFrom<'literal' | 'prefixed'>('literal', 'prefixed'),
  })
  .map((b) => {
    if (b.resourceType === 'cluster') return { ...b, resourceName: '', patternType: 'literal' as const };
    return b.resourceName === '*' ? { ...b, patternType: 'literal' as const } : b;
  })
  .map(validateAclBinding);

t.test('the authorizer agrees with a reference model on random ACL sets', async (t) => {
  let checks = 0;
  fc.assert(
    fc.property(fc.array(bindingArb, { maxLength: 14 }), fc.subarray(['alice', 'bob', 'carol'], { maxLength: 1 }), (acls, superusers) => {
      const authorizer = new Authorizer({ superusers, acls: () => acls });
      const reference = referenceModel(acls, superusers);
      for (const principal of [...PRINCIPALS, 'User:*']) {
        for (const operation of OPERATIONS) {
          for (const type of ['topic', 'group', 'cluster'] as const) {
            for (const name of namesOf(type)) {
              checks++;
              const got = authorizer.authorize(principal, operation, { type, name });
              if (got !== reference.authorize(principal, operation, type, name)) throw new Error(`${principal} ${operation} ${type}/${name}: authorizer says ${got}`);
            }
            const any = authorizer.authorizeAny(principal, operation, type);
            if (any !== reference.authorizeAny(principal, operation, type)) throw new Error(`${principal} ${operation} any ${type}: authorizer says ${any}`);
          }
        }
      }
    }),
    { numRuns: 150 },
  );
  t.ok(checks > 150 * 4000, `${checks} decisions compared`);
});

// ---------------------------------------------------------------------------------------
// Bindings

t.test('a binding is checked field by field, with what is wrong', async (t) => {
  const good = { principal: 'User:alice', permission: 'allow', operation: 'read', resourceType: 'topic', resourceName: 'orders', patternType: 'literal' };
  t.same(validateAclBinding({ ...good, extra: 1 }), good, 'only the binding\'s fields are kept');
  t.same(validateAclBinding({ ...good, resourceName: '.', patternType: 'prefixed' }).resourceName, '.', '"." is a fine prefix');
  t.same(validateAclBinding({ ...good, principal: 'User:*', resourceName: '*' }).principal, 'User:*');
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...good, principal: 'alice' }, /principal must be User:NAME or User:\*, got "alice"/],
    [{ ...good, principal: 'User:' }, /principal must be User:NAME/],
    [{ ...good, permission: 'maybe' }, /permission must be one of allow, deny, got "maybe"/],
    [{ ...good, operation: 'idempotent-write' }, /operation must be one of read, write, create, delete, alter, describe, all/],
    [{ ...good, resourceType: 'schema' }, /resourceType must be one of topic, group, cluster/],
    [{ ...good, patternType: 'match' }, /patternType must be one of literal, prefixed/],
    [{ ...good, resourceName: 7 }, /resourceName must be a string, got 7/],
    [{ ...good, resourceName: '' }, /the topic name is empty \(use "\*" for every topic\)/],
    [{ ...good, resourceType: 'group', resourceName: '', patternType: 'prefixed' }, /the group name is empty/],
    [{ ...good, resourceName: '*', patternType: 'prefixed' }, /"\*" is not a prefix/],
    [{ ...good, resourceName: 'a/b' }, /invalid ACL: invalid topic name "a\/b"/],
    [{ ...good, resourceType: 'cluster' }, /a cluster binding has no resource name and is literal/],
    [{ ...good, resourceType: 'cluster', resourceName: '', patternType: 'prefixed' }, /a cluster binding has no resource name/],
  ];
  for (const [value, message] of bad) t.throws(() => validateAclBinding(value), { code: 'INVALID_REQUEST', message }, String(message));
  t.equal(formatAcl(acl('User:alice', 'allow', 'read', topic('orders.'), 'prefixed')), 'User:alice allow read on topics prefixed "orders."');
  t.equal(formatAcl(acl('User:*', 'deny', 'all', group('*'))), 'User:* deny all on every group');
  t.equal(formatAcl(acl('User:ops', 'allow', 'alter', CLUSTER)), 'User:ops allow alter on the cluster');
});

// ---------------------------------------------------------------------------------------
// What each request needs

t.test('each request type is checked as SPEC section 9 says', async (t) => {
  const acls = [
    // `acl create --producer --topic orders`
    acl('User:producer', 'allow', 'write', topic('orders')),
    acl('User:producer', 'allow', 'describe', topic('orders')),
    acl('User:producer', 'allow', 'create', topic('orders')),
    // `acl create --consumer --topic orders --group billing`
    acl('User:consumer', 'allow', 'read', topic('orders')),
    acl('User:consumer', 'allow', 'read', group('billing')),
    acl('User:ops', 'allow', 'alter', CLUSTER),
    acl('User:maker', 'allow', 'create', CLUSTER),
  ];
  const authorizer = new Authorizer({ superusers: ['root'], acls: () => acls });
  // [request, principal, group, topic, refusal or undefined]
  const table: Array<[RequestType, string, string, string, RegExp | undefined]> = [
    ['produce', 'User:producer', '', 'orders', undefined],
    ['produce', 'User:consumer', '', 'orders', /^User:consumer may not write topic "orders"/],
    ['fetch', 'User:consumer', '', 'orders', undefined],
    ['fetch', 'User:producer', '', 'orders', /may not read topic "orders"/],
    ['fetch', 'User:consumer', '', 'no-such-topic', /may not read topic "no-such-topic"/],
    ['metadata', 'User:producer', '', 'orders', undefined],
    ['metadata', 'User:consumer', '', 'orders', undefined],
    ['metadata', 'User:stranger', '', 'orders', /may not describe topic "orders"/],
    ['describeTopic', 'User:consumer', '', 'orders', undefined],
    ['listOffsets', 'User:stranger', '', 'orders', /may not describe topic/],
    ['initProducerId', 'User:producer', '', '', undefined],
    ['initProducerId', 'User:consumer', '', '', /^User:consumer may not write any topic: initProducerId needs write on at least one/],
    ['createTopics', 'User:producer', '', 'orders', undefined],
    ['createTopics', 'User:producer', '', 'refunds', /may not create topic "refunds"/],
    ['createTopics', 'User:maker', '', 'refunds', undefined],
    ['deleteTopics', 'User:producer', '', 'orders', /may not delete topic "orders"/],
    ['alterTopicConfig', 'User:producer', '', 'orders', /may not alter topic "orders"/],
    ['joinGroup', 'User:consumer', 'billing', '', undefined],
    ['joinGroup', 'User:consumer', 'shipping', '', /^User:consumer may not read group "shipping"/],
    ['heartbeat', 'User:producer', 'billing', '', /may not read group "billing"/],
    ['leaveGroup', 'User:consumer', 'billing', '', undefined],
    ['commitOffsets', 'User:consumer', 'billing', 'orders', undefined],
    ['commitOffsets', 'User:consumer', 'billing', 'refunds', /may not read topic "refunds"/],
    ['commitOffsets', 'User:consumer', 'shipping', 'orders', /may not read group "shipping"/],
    ['fetchOffsets', 'User:consumer', 'billing', 'orders', undefined],
    ['resetOffsets', 'User:producer', 'billing', 'orders', /may not read group "billing"/],
    ['describeGroup', 'User:consumer', 'billing', '', undefined],
    ['describeGroup', 'User:producer', 'billing', '', /may not describe group "billing"/],
    ['describeCluster', 'User:ops', '', '', undefined],
    ['describeCluster', 'User:consumer', '', '', /^User:consumer may not describe the cluster/],
    ['movePartition', 'User:ops', '', '', undefined],
    ['movePartition', 'User:maker', '', '', /^User:maker may not alter the cluster/],
    ['transferLeader', 'User:consumer', '', '', /may not alter the cluster/],
    ['balanceLeaders', 'User:ops', '', '', undefined],
    ['removeBroker', 'User:producer', '', '', /may not alter the cluster/],
    ['registerBroker', 'User:root', '', '', undefined],
  ];
  for (const [type, principal, groupName, topicName, refusal] of table) {
    const error = requestRefusal(authorizer, principal, type, groupName) ?? (topicName ? topicRefusal(authorizer, principal, type, topicName) : undefined);
    if (refusal) t.match(error, { code: 'NOT_AUTHORIZED', message: refusal }, `${type} by ${principal}: refused`);
    else t.equal(error, undefined, `${type} by ${principal}: allowed`);
  }

  // Listings: nothing refused as a whole, each entry checked on its own.
  t.equal(requestRefusal(authorizer, 'User:stranger', 'listGroups'), undefined);
  t.equal(groupRefusal(authorizer, 'User:consumer', 'listGroups', 'billing'), undefined, 'a consumer sees its group');
  t.match(groupRefusal(authorizer, 'User:consumer', 'listGroups', 'shipping'), { message: /may not describe group "shipping"/ }, 'and not the others');
  t.equal(REQUEST_ACLS.metadata.lists, 'topics');
  t.equal(topicRefusal(authorizer, 'User:producer', 'joinGroup', 'orders'), undefined, 'a request that names no topic needs nothing on topics');
});

t.test('without a binding, nobody can do anything', async (t) => {
  const authorizer = new Authorizer({ superusers: ['root'], acls: () => [] });
  // The SASL exchange needs no permission: it is how a connection gets its principal.
  for (const type of (Object.keys(REQUEST_ACLS) as RequestType[]).filter((type) => !type.startsWith('sasl'))) {
    const needs = REQUEST_ACLS[type];
    const refused =
      requestRefusal(authorizer, 'User:nobody', type, 'g') ??
      topicRefusal(authorizer, 'User:nobody', type, 'orders') ??
      (needs.lists === 'groups' ? groupRefusal(authorizer, 'User:nobody', type, 'g') : undefined);
    t.ok(refused, `${type} is refused`);
    const root = requestRefusal(authorizer, 'User:root', type, 'g') ?? topicRefusal(authorizer, 'User:root', type, 'orders') ?? groupRefusal(authorizer, 'User:root', type, 'g');
    t.equal(root, undefined, `${type} is allowed to a superuser`);
  }
});
