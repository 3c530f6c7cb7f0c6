/**
 * Authentication and authorization on real broker processes (SPEC section 9): SCRAM on
 * every connection, ACLs per request, users and ACLs replicated and kept across restarts
 * and controller snapshots, a revoked user's connections closed; the `user` and `acl`
 * commands of the CLI.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import t from 'tap';
import { clusterOf } from '../../client/client.js';
import { Client, FlotillaError } from '../../client/index.js';
import { Connection } from '../../client/network/connection.js';
import { saslAuthenticator } from '../../client/network/sasl.js';
import { createWireCodec } from '../../client/network/wire.js';
import { CLIENT_API_VERSION, PEER_PROTOCOL_VERSION, decodePeerMessage, decodeResponse, encodePeerMessage, encodeRequest } from '../../protocol/codec.js';
import { encodeFrame, readFrames } from '../../protocol/frame.js';
import { CLI, controllerSnapshotIndex, runCli, startCluster, waitFor } from './cluster.js';

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

  await t.test('a peer connection without TLS must prove the inter-broker credential', async (t) => {
    const socket = connect({ host: '127.0.0.1', port: Number(address.split(':')[1]) });
    socket.write(Buffer.of(0x02));
    socket.write(encodeFrame(encodePeerMessage({ handshake: { clusterId: 'flotilla', brokerId: 7, version: PEER_PROTOCOL_VERSION, address: '127.0.0.1:7' } })));
    const frames: Buffer[] = [];
    await new Promise<void>((resolve) => readFrames(socket, { onFrame: (f) => void frames.push(f), onClose: () => resolve() }));
    const answer = decodePeerMessage(frames[0]!).handshakeAck;
    t.equal(answer?.accepted, false, 'a handshake alone is refused');
    t.match(answer?.errorMessage, /must prove the inter-broker credential/);
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
    // The listing hides payroll from alice; asked by name, the broker says why.
    await t.rejects(producer.send({ topic: 'payroll', value: 'no' }), { code: 'NOT_AUTHORIZED' });
    await t.rejects(producer.send({ topic: 'ghost', value: 'no' }), { code: 'NOT_AUTHORIZED' });
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

  await t.test("a group's description leaves out the topics alice may not describe, and she cannot join for one", async (t) => {
    await admin.admin().createAcls([{ principal: 'User:alice', permission: 'allow', operation: 'read', resourceType: 'group', resourceName: 'shared', patternType: 'literal' }]);
    await admin.admin().resetOffsets('shared', 'payroll', 0);
    await admin.admin().resetOffsets('shared', 'orders', 0);
    t.same([...new Set((await admin.admin().describeGroup('shared')).offsets.map((o) => o.topic))].sort(), ['orders', 'payroll'], 'the admin sees both');
    t.same([...new Set((await alice.admin().describeGroup('shared')).offsets.map((o) => o.topic))], ['orders'], 'alice sees only what she may describe');
    const join = { type: 'joinGroup' as const, groupId: 'shared', memberId: '', sessionTimeoutMs: 10_000, owned: [] };
    await t.rejects(clusterOf(alice).send(address, { ...join, topics: ['orders', 'payroll'] }), { code: 'NOT_AUTHORIZED', message: /payroll/ }, 'a join naming payroll is refused');
    await t.rejects(clusterOf(alice).send(address, { ...join, topics: ['ghost'] }), { code: 'NOT_AUTHORIZED' }, 'so is one naming a topic that does not exist');
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
  await t.test('the CLI creates a user, gives it producer and consumer ACLs, and deletes it', async (t) => {
    const asAdmin = { env: { FLOTILLA_BROKERS: cluster.bootstrap.join(','), FLOTILLA_USER: ADMIN.username, FLOTILLA_PASSWORD: ADMIN.password } };
    const passwordFile = join(cluster.root, 'carol.password');
    writeFileSync(passwordFile, 'carol-secret\n');
    const asCarol = ['--brokers', cluster.bootstrap.join(','), '--user', 'carol', '--password-file', passwordFile];

    const created = await runCli(['user', 'create', 'carol', '--password-stdin'], { ...asAdmin, stdin: 'carol-secret\n' });
    t.equal(created.code, 0, created.stderr);
    const again = await runCli(['user', 'create', 'carol', '--password-stdin'], { ...asAdmin, stdin: 'other\n' });
    t.equal(again.code, 1);
    t.match(again.stderr, /^error: USER_EXISTS: /);
    const noPassword = await runCli(['user', 'create', 'dave'], asAdmin);
    t.equal(noPassword.code, 2);
    t.match(noPassword.stderr, /--password-stdin/);

    const listed = await runCli(['user', 'list', '--json'], asAdmin);
    t.equal(listed.code, 0, listed.stderr);
    const users = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    t.same(users.find((u) => u.name === 'carol'), { name: 'carol', mechanism: 'scram-sha-256', iterations: 4096 }, 'no salt or keys');
    const table = await runCli(['user', 'list'], asAdmin);
    t.match(table.stdout, /^NAME +MECHANISM +ITERATIONS\n/);
    t.notMatch(table.stdout, /carol-secret/);

    const anonymous = await runCli(['topic', 'list', '--brokers', cluster.bootstrap.join(',')]);
    t.equal(anonymous.code, 1);
    t.match(anonymous.stderr, /AUTHENTICATION_FAILED/);
    const notAdmin = await runCli([...asCarol, 'user', 'list']);
    t.equal(notAdmin.code, 1);
    t.match(notAdmin.stderr, /^error: NOT_AUTHORIZED: /);

    await admin.admin().createTopic({ topic: 'invoices', partitions: 1, replicationFactor: 1 });
    for (const args of [['--producer', '--topic', 'invoices'], ['--consumer', '--topic', 'invoices', '--group', 'audit']]) {
      const acl = await runCli(['acl', 'create', '--allow', 'User:carol', ...args], asAdmin);
      t.equal(acl.code, 0, acl.stderr);
    }
    const acls = await runCli(['acl', 'list', '--principal', 'User:carol', '--json'], asAdmin);
    const granted = (JSON.parse(acls.stdout) as Array<{ operation: string; resourceType: string; resourceName: string; permission: string }>)
      .map((b) => `${b.permission} ${b.operation} ${b.resourceType} ${b.resourceName}`)
      .sort();
    t.same(granted, ['allow describe topic invoices', 'allow read group audit', 'allow read topic invoices', 'allow write topic invoices']);

    const produced = await runCli([...asCarol, 'produce', 'invoices', '--idempotent'], { stdin: 'first\nsecond\n' });
    t.equal(produced.code, 0, produced.stderr);
    const consumed = await runCli([...asCarol, 'consume', 'invoices', '--group', 'audit', '--count', '2']);
    t.equal(consumed.code, 0, consumed.stderr);
    t.equal(consumed.stdout, 'first\nsecond\n');
    const benched = await runCli([...asCarol, 'bench', 'consume', '--topic', 'invoices', '--records', '2']);
    t.equal(benched.code, 0, benched.stderr);

    const changed = await runCli(['user', 'set-password', 'carol', '--password-stdin'], { ...asAdmin, stdin: 'carol-new\n' });
    t.equal(changed.code, 0, changed.stderr);
    const oldPassword = await runCli([...asCarol, 'topic', 'list']);
    t.equal(oldPassword.code, 1);
    t.match(oldPassword.stderr, /AUTHENTICATION_FAILED/);

    const deletedAcls = await runCli(['acl', 'delete', '--principal', 'User:carol', '--topic', 'invoices', '--group', 'audit'], asAdmin);
    t.equal(deletedAcls.code, 0, deletedAcls.stderr);
    t.equal(deletedAcls.stderr.split('\n').filter((line) => line.startsWith('deleted ACL: User:carol')).length, 4);
    t.same(JSON.parse((await runCli(['acl', 'list', '--principal', 'User:carol', '--json'], asAdmin)).stdout), []);

    const deleted = await runCli(['user', 'delete', 'carol'], asAdmin);
    t.equal(deleted.code, 0, deleted.stderr);
    t.notOk((JSON.parse((await runCli(['user', 'list', '--json'], asAdmin)).stdout) as Array<{ name: string }>).some((u) => u.name === 'carol'));
    const unknown = await runCli(['user', 'delete', 'carol'], asAdmin);
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, /^error: UNKNOWN_USER: /);
  });
});

t.test('a broker that catches up from a snapshot closes the connections of a user deleted meanwhile', async (t) => {
  const { cluster, client } = await startCluster(
    t,
    { brokers: 3, extraArgs: ['--authn', 'scram', '--superusers', 'admin', '--controller-snapshot-entries', '10', '--metadata-segment-bytes', '4096'], env: { FLOTILLA_BOOTSTRAP_USER: `${ADMIN.username}:${ADMIN.password}` } },
    { sasl: ADMIN },
  );
  await waitFor('the admin', () => client.admin().createUser({ name: 'bob', password: 'bob-secret' }).then(() => true, () => undefined));
  // The broker left behind is not the controller; the admin talks to the other two.
  const controller = (await client.admin().describeCluster()).controller;
  const behind = [1, 2, 3].find((id) => id !== controller)!;
  const others = [1, 2, 3].filter((id) => id !== behind);
  const admin = new Client({ brokers: others.map((id) => cluster.brokers.get(id)!.address), requestTimeoutMs: 10_000, sasl: ADMIN });
  t.teardown(() => admin.close());
  const connection = new Connection(createWireCodec('bob'), {
    address: cluster.brokers.get(behind)!.address, requestTimeoutMs: 10_000, connectTimeoutMs: 10_000, maxFrameBytes: 1 << 20,
    authenticate: saslAuthenticator({ mechanism: 'scram-sha-256', username: 'bob', password: 'bob-secret' }),
  });
  t.teardown(() => connection.close());
  await waitFor(`bob connected to broker ${behind}`, () => connection.request({ type: 'metadata' }).catch(() => undefined));

  const snapshotIndex = (id: number) => controllerSnapshotIndex(cluster.brokers.get(id)!.dataDir);
  const acl = (i: number) => ({ principal: `User:u${i}`, permission: 'allow' as const, operation: 'read' as const, resourceType: 'topic' as const, resourceName: 'any', patternType: 'literal' as const });
  cluster.pause(behind);
  // A paused broker's socket still takes what the leader sends until the leader's window of
  // 256 appends in flight is full: fill it, so that the deletion is never sent as an entry.
  for (let i = 0; i < 300; i++) await admin.admin().createAcls([acl(i)]);
  await admin.admin().deleteUser('bob');
  const deletedBy = Math.max(...others.map(snapshotIndex)) + 20;
  // Until the others compacted well past the deletion: the broker will be sent the state.
  for (let i = 300; Math.min(...others.map(snapshotIndex)) < deletedBy + 30; i++) {
    await admin.admin().createAcls([acl(i)]);
    if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 300)); // compaction runs every 250 ms
  }
  t.ok(connection.isConnected, "bob's connection is still open on the paused broker");
  const before = cluster.logs(behind).length;
  cluster.resume(behind);
  await waitFor(`bob's connection to broker ${behind} closed`, () => !connection.isConnected, 30_000);
  t.pass('the connection of the deleted user is closed');
  t.match(cluster.logs(behind).slice(before), /closed the connections of users deleted or given a new credential while this broker was behind/, 'by the snapshot, and the broker said why');
  await t.rejects(connection.request({ type: 'metadata' }), { code: 'AUTHENTICATION_FAILED' }, 'bob cannot authenticate again');
});
