/**
 * Authentication and authorization on real broker processes (SPEC section 9): SCRAM on
 * every connection, ACLs per request, users and ACLs replicated and kept across restarts
 * and controller snapshots, a revoked user's connections closed.
 */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import t from 'tap';
import { Client, FlotillaError } from '../../client/index.js';
import { Connection } from '../../client/network/connection.js';
import { saslAuthenticator } from '../../client/network/sasl.js';
import { createWireCodec } from '../../client/network/wire.js';
import { CLIENT_API_VERSION, decodeResponse, encodeRequest } from '../../protocol/codec.js';
import { encodeFrame, readFrames } from '../../protocol/frame.js';
import { CLI, startCluster, waitFor } from './cluster.js';

const ADMIN = { mechanism: 'scram-sha-256' as const, username: 'admin', password: 'admin-secret' };

t.test('a broker with --authn and no --superusers refuses to start', async (t) => {
  const result = spawnSync(process.execPath, [CLI, 'broker', 'start', '--id', '1', '--listen', '127.0.0.1:1', '--data', '/nonexistent-flotilla', '--initial-cluster', '1=127.0.0.1:1', '--authn', 'scram'], { encoding: 'utf8' });
  t.equal(result.status, 1);
  t.match(result.stderr, /INVALID_CONFIG: --authn scram .*--superusers/);
});

t.test('SCRAM and ACLs end to end', async (t) => {
  const { cluster, client: admin } = await startCluster(
    t,
    { brokers: 1, extraArgs: ['--authn', 'scram', '--superusers', 'admin', '--controller-snapshot-entries', '20'], env: { FLOTILLA_BOOTSTRAP_USER: `${ADMIN.username}:${ADMIN.password}` } },
    { sasl: ADMIN },
  );
  const address = cluster.bootstrap[0]!;
  const clients: Client[] = [];
  const clientAs = (username: string, password: string) => {
    const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000, retryBackoffMs: 50, sasl: { mechanism: 'scram-sha-256', username, password } });
    clients.push(client);
    return client;
  };
  t.teardown(() => Promise.all(clients.map((c) => c.close())));

  await t.test('a request before authentication gets AUTHENTICATION_FAILED and a closed connection', async (t) => {
    const socket = connect({ host: '127.0.0.1', port: Number(address.split(':')[1]) });
    socket.write(Buffer.of(0x01));
    socket.write(encodeFrame(encodeRequest({ correlationId: 7, apiVersion: CLIENT_API_VERSION, clientId: 'x', metadata: { topics: [] } })));
    const frames: Buffer[] = [];
    await new Promise<void>((resolve) => readFrames(socket, { onFrame: (f) => void frames.push(f), onClose: () => resolve() }));
    t.equal(frames.length, 1);
    const response = decodeResponse(frames[0]!);
    t.equal(response.correlationId, 7);
    t.match(response.error?.message, /not authenticated/);
  });

  await t.test('a wrong password gets AUTHENTICATION_FAILED', async (t) => {
    await t.rejects(clientAs('admin', 'wrong').admin().listTopics(), { code: 'AUTHENTICATION_FAILED' });
    await t.rejects(new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 5000 }).admin().listTopics(), { code: 'AUTHENTICATION_FAILED' });
  });

  await admin.admin().createUser({ name: 'alice', password: 'alice-secret' });
  await admin.admin().createTopic({ topic: 'orders', partitions: 1, replicationFactor: 1 });
  await admin.admin().createTopic({ topic: 'payroll', partitions: 1, replicationFactor: 1 });

  await t.test('user list shows no keys', async (t) => {
    const users = await admin.admin().listUsers();
    t.same(users.map((u) => u.name), ['admin', 'alice']);
    for (const user of users) t.same(Object.keys(user).sort(), ['iterations', 'mechanism', 'name']);
    await t.rejects(admin.admin().createUser({ name: 'alice', password: 'other' }), { code: 'USER_EXISTS' });
  });

  const alice = clientAs('alice', 'alice-secret');
  await t.test('listings hide what alice may not see; unknown and unauthorized topics are NOT_AUTHORIZED', async (t) => {
    t.same(await alice.admin().listTopics(), []);
    await t.rejects(alice.admin().describeTopic('ghost'), { code: 'NOT_AUTHORIZED' });
    await t.rejects(alice.admin().describeTopic('payroll'), { code: 'NOT_AUTHORIZED' });
  });

  await t.test('producer and consumer ACLs work end to end; the group needs its own ACL', async (t) => {
    const acl = { principal: 'User:alice', permission: 'allow' as const, patternType: 'literal' as const };
    await admin.admin().createAcls([
      { ...acl, operation: 'write', resourceType: 'topic', resourceName: 'orders' },
      { ...acl, operation: 'read', resourceType: 'topic', resourceName: 'orders' },
    ]);
    t.same(await alice.admin().listTopics(), ['orders']);
    const producer = alice.producer({ acks: 'all' });
    await producer.send({ topic: 'orders', value: 'one' });
    // The SDK learns topics from a metadata listing, which hides payroll from alice, so it
    // reports UNKNOWN_TOPIC before asking the broker (which would answer NOT_AUTHORIZED).
    await t.rejects(producer.send({ topic: 'payroll', value: 'no' }), { code: 'UNKNOWN_TOPIC' });
    await producer.close();

    const denied = alice.consumer({ groupId: 'billing' });
    const error = await denied.subscribe({ topic: 'orders', fromBeginning: true }).then(
      async () => {
        for await (const _ of denied) break;
      },
    ).catch((e: unknown) => e);
    await denied.close().catch(() => undefined);
    t.ok(error instanceof FlotillaError && error.code === 'NOT_AUTHORIZED', `got ${String(error)}`);
    t.match((error as Error).message, /group "billing"/);

    await admin.admin().createAcls([{ ...acl, operation: 'read', resourceType: 'group', resourceName: 'billing' }]);
    const consumer = alice.consumer({ groupId: 'billing' });
    await consumer.subscribe({ topic: 'orders', fromBeginning: true });
    for await (const message of consumer) {
      t.equal(message.value?.toString(), 'one');
      break;
    }
    await consumer.close();
  });

  await t.test('users survive a restart and a controller snapshot', async (t) => {
    for (let i = 0; i < 25; i++) await admin.admin().createAcls([{ principal: `User:u${i}`, permission: 'allow', operation: 'read', resourceType: 'topic', resourceName: 'orders', patternType: 'literal' }]);
    await cluster.stop(1);
    cluster.restart(1);
    const again = clientAs('alice', 'alice-secret');
    t.same(await waitFor('alice again', () => again.admin().listTopics().catch(() => undefined)), ['orders']);
  });

  await t.test("deleting a user closes its live connection", async (t) => {
    const connection = new Connection(createWireCodec('alice'), {
      address, requestTimeoutMs: 10_000, connectTimeoutMs: 10_000, maxFrameBytes: 1 << 20,
      authenticate: saslAuthenticator({ mechanism: 'scram-sha-256', username: 'alice', password: 'alice-secret' }),
    });
    t.teardown(() => connection.close());
    await waitFor('alice connected', () => connection.request({ type: 'metadata' }).catch(() => undefined));
    t.ok(connection.isConnected);
    await waitFor('the admin', () => admin.admin().deleteUser('alice').then(() => true, () => undefined));
    await waitFor('alice disconnected', () => !connection.isConnected);
    await t.rejects(connection.request({ type: 'metadata' }), { code: 'AUTHENTICATION_FAILED' });
  });
});
