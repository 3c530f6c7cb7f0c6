/**
 * Security on the Kafka listener, on real broker processes: TLS with the brokers'
 * certificates, SASL/SCRAM (SHA-256 and SHA-512) with the native port's users, ACLs with
 * Kafka's error codes, and the principal of a client certificate (--authn mtls). Clients:
 * kafkajs 2.2.4, kcat (librdkafka), and raw requests where a client would hide the answer.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { runKcat } from './kcat.js';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { generateCertificates } from '../../bench/certificates.js';
import { buildBatch } from '../../protocol/batch.js';
import { decodeResponse, encodeRequest, KafkaFrameReader, type KafkaApiName, type RequestInput, type ResponseBody } from '../../protocol/kafka/index.js';
import { ScramClient, type ScramMechanism } from '../../protocol/scram.js';
import { startCluster, waitFor } from './cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-kafka-security-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const certs = generateCertificates(join(dir, 'certs'), { brokers: 3, clients: ['alice', 'admin'] });
const pem = (file: string) => readFileSync(file);
const tlsArgs = (id: number) => ['--tls-cert', certs.brokers.get(id)!.cert, '--tls-key', certs.brokers.get(id)!.key, '--tls-ca', certs.ca];
const ADMIN = { mechanism: 'scram-sha-256' as const, username: 'admin', password: 'admin-secret' };
const quiet = { logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100 } };

/** A Kafka connection that sends requests one at a time and reads their answers: for what clients hide. */
class RawKafka {
  private readonly reader = new KafkaFrameReader();
  private readonly frames: Buffer[] = [];
  private wake: (() => void) | null = null;
  private correlationId = 0;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.frames.push(...this.reader.push(chunk));
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => this.wake?.());
  }

  static open(address: string, secure = true): Promise<RawKafka> {
    const [host, port] = address.split(':');
    return new Promise((resolve, reject) => {
      const socket = secure ? tls.connect({ host: host!, port: Number(port), ca: pem(certs.ca) }, () => resolve(new RawKafka(socket))) : netConnect({ host: host!, port: Number(port) }, () => resolve(new RawKafka(socket)));
      socket.once('error', reject);
    });
  }

  /** The next frame, or null once the connection closed without one. */
  async next(): Promise<Buffer | null> {
    while (this.frames.length === 0) {
      if (this.socket.destroyed || this.socket.readableEnded) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.frames.shift()!;
  }

  async send<N extends KafkaApiName>(api: N, version: number, body: RequestInput<N>): Promise<ResponseBody<N> | null> {
    for (const chunk of encodeRequest(api, { apiVersion: version, correlationId: ++this.correlationId, clientId: 'raw' }, body)) this.socket.write(chunk);
    const frame = await this.next();
    return frame && decodeResponse(api, version, frame).body;
  }

  /** A bare SASL token (after SaslHandshake v0): an int32 size and the bytes; the answer likewise. */
  async sendToken(token: string): Promise<string | null> {
    const size = Buffer.alloc(4);
    size.writeInt32BE(Buffer.byteLength(token));
    this.socket.write(Buffer.concat([size, Buffer.from(token)]));
    return (await this.next())?.toString() ?? null;
  }

  /** SCRAM through SaslHandshake v1 and SaslAuthenticate, or bare tokens after a v0 handshake. */
  async authenticate(mechanism: ScramMechanism, username: string, password: string, handshakeVersion = 1): Promise<void> {
    const handshake = await this.send('SaslHandshake', handshakeVersion, { mechanism: mechanism.toUpperCase() });
    if (handshake?.errorCode !== 0) throw new Error(`SaslHandshake answered ${handshake?.errorCode}`);
    const scram = new ScramClient({ mechanism, username, password });
    const step = async (message: string): Promise<string> => {
      if (handshakeVersion === 0) return (await this.sendToken(message)) ?? '';
      const answer = await this.send('SaslAuthenticate', 1, { authBytes: Buffer.from(message) });
      if (answer?.errorCode !== 0) throw Object.assign(new Error(answer?.errorMessage ?? 'closed'), { errorCode: answer?.errorCode });
      return answer.authBytes.toString();
    };
    const serverFirst = await step(scram.clientFirst());
    scram.handleServerFinal(await step(scram.handleServerFirst(serverFirst)));
  }

  close(): void {
    this.socket.destroy();
  }
}

t.test('a TLS and SCRAM cluster: kafkajs and kcat authenticate, ACLs answer with Kafka codes', async (t) => {
  const { cluster, client } = await startCluster(
    t,
    { brokers: 3, kafka: true, brokerArgs: tlsArgs, extraArgs: ['--authn', 'scram', '--superusers', 'admin'], env: { FLOTILLA_BOOTSTRAP_USER: `${ADMIN.username}:${ADMIN.password}` } },
    { tls: { ca: pem(certs.ca) }, sasl: ADMIN },
  );
  const bootstrap = cluster.kafkaBootstrap;
  const kafkaAs = (mechanism: ScramMechanism, username: string, password: string, extra: Partial<KafkaConfig> = {}) =>
    new Kafka({ clientId: `kafka-${username}`, brokers: bootstrap, ssl: { ca: [pem(certs.ca)] }, sasl: { mechanism, username, password } as KafkaConfig['sasl'], ...quiet, ...extra });

  const admin = client.admin();
  await admin.createUser({ name: 'k256', password: 'k256-secret', mechanism: 'scram-sha-256' });
  await admin.createUser({ name: 'k512', password: 'k512-secret', mechanism: 'scram-sha-512' });
  await admin.createUser({ name: 'nobody', password: 'nobody-secret', mechanism: 'scram-sha-512' });
  await admin.createTopic({ topic: 'secure', partitions: 3, replicationFactor: 3 });
  await admin.createTopic({ topic: 'secure-kcat', partitions: 3, replicationFactor: 3 });
  const allow = (principal: string, operation: 'read' | 'write', resourceType: 'topic' | 'group', resourceName: string) =>
    ({ principal, permission: 'allow', operation, resourceType, resourceName, patternType: 'literal' }) as const;
  await admin.createAcls([
    allow('User:k512', 'write', 'topic', 'secure'),
    allow('User:k256', 'read', 'topic', 'secure'),
    allow('User:k256', 'read', 'group', 'secure-group'),
    allow('User:k512', 'write', 'topic', 'secure-kcat'),
    allow('User:k512', 'read', 'topic', 'secure-kcat'),
  ]);
  const kafkaAdmin = kafkaAs('scram-sha-256', 'admin', ADMIN.password).admin();
  await kafkaAdmin.connect();
  t.teardown(() => kafkaAdmin.disconnect());
  await waitFor('every broker in the Kafka metadata', async () => (await kafkaAdmin.describeCluster()).brokers.length === 3, 30_000);
  const records = async (topic: string) => (await admin.describeTopic(topic)).partitions.reduce((n, p) => n + p.highWatermark, 0);

  await t.test('plaintext to the TLS-only Kafka port is closed unanswered', async (t) => {
    const raw = await RawKafka.open(bootstrap[0]!, false);
    t.equal(await raw.send('ApiVersions', 2, {}), null);
    await raw.closed;
  });

  await t.test('kafkajs: an idempotent SCRAM-SHA-512 producer writes, a SCRAM-SHA-256 consumer group reads every record', async (t) => {
    const producer = kafkaAs('scram-sha-512', 'k512', 'k512-secret').producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const count = 200;
    for (let i = 0; i < count; i += 50) {
      await producer.send({ topic: 'secure', acks: -1, messages: Array.from({ length: 50 }, (_, j) => ({ key: `k${(i + j) % 7}`, value: `secure ${i + j}` })) });
    }
    await producer.disconnect();

    const consumer = kafkaAs('scram-sha-256', 'k256', 'k256-secret').consumer({ groupId: 'secure-group', maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'secure', fromBeginning: true });
    const seen = new Set<string>();
    let resolveAll!: () => void;
    const all = new Promise<void>((resolve) => (resolveAll = resolve));
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.add(message.value!.toString());
        if (seen.size === count) resolveAll();
      },
    });
    await all;
    await consumer.disconnect();
    t.equal(seen.size, count, 'every record, through a consumer group');
  });

  await t.test('an idempotent producer id from every broker: one that is not the controller asks it over TLS as the inter-broker user', async (t) => {
    const { controller } = await admin.describeCluster();
    for (const id of [1, 2, 3]) {
      const raw = await RawKafka.open(cluster.brokers.get(id)!.kafkaAddress!);
      await raw.authenticate('scram-sha-512', 'k512', 'k512-secret');
      const answer = await raw.send('InitProducerId', 1, { transactionalId: null, transactionTimeoutMs: -1 });
      raw.close();
      t.equal(answer?.errorCode, 0, `broker ${id}${id === controller ? ' (the controller)' : ''} answers with no error`);
      t.ok((answer?.producerId ?? -1) >= 0, `and a producer id (${answer?.producerId})`);
    }
  });

  await t.test("a missing user's SCRAM salt is the same on every broker, as a real user's is", async (t) => {
    const serverFirst = async (id: number, username: string) => {
      const raw = await RawKafka.open(cluster.brokers.get(id)!.kafkaAddress!);
      t.teardown(() => raw.close());
      await raw.send('SaslHandshake', 1, { mechanism: 'SCRAM-SHA-256' });
      const answer = await raw.send('SaslAuthenticate', 1, { authBytes: Buffer.from(new ScramClient({ mechanism: 'scram-sha-256', username, password: 'x' }).clientFirst()) });
      return /,s=([^,]+),i=(\d+)/.exec(answer!.authBytes.toString())!.slice(1).join(' i=');
    };
    for (const username of ['k256', 'mallory']) {
      const seen = await Promise.all([1, 2, 3].map((id) => serverFirst(id, username)));
      t.equal(new Set(seen).size, 1, `${username}: one salt and iteration count on brokers 1-3 (${seen[0]})`);
    }
  });

  await t.test('kcat with SASL_SSL and SCRAM-SHA-512 produces and consumes', async (t) => {
    const security = ['-X', 'security.protocol=SASL_SSL', '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=k512', '-X', 'sasl.password=k512-secret', '-X', `ssl.ca.location=${certs.ca}`];
    const kcat = (args: string[], input = '') => runKcat(bootstrap, [...security, ...args], input);
    const lines = Array.from({ length: 1000 }, (_, i) => `kcat ${i}`);
    await kcat(['-P', '-t', 'secure-kcat'], lines.join('\n') + '\n');
    const read = (await kcat(['-C', '-t', 'secure-kcat', '-e', '-q'])).split('\n').filter(Boolean);
    t.same(read.sort(), [...lines].sort(), 'every line, each once');
  });

  await t.test('a wrong password fails with SASL_AUTHENTICATION_FAILED and a closed connection; nothing is written', async (t) => {
    const before = await records('secure');
    const producer = kafkaAs('scram-sha-512', 'k512', 'wrong', { retry: { retries: 0 } }).producer();
    const error = await producer.connect().then(() => producer.send({ topic: 'secure', messages: [{ value: 'no' }] })).catch((e: Error) => e);
    await producer.disconnect().catch(() => undefined);
    t.match(String(error), /SASL.*authentication failed/i);

    const raw = await RawKafka.open(bootstrap[0]!);
    const failed = await raw.authenticate('scram-sha-512', 'k512', 'wrong').catch((e: Error & { errorCode?: number }) => e);
    t.equal((failed as { errorCode?: number }).errorCode, 58, 'SASL_AUTHENTICATION_FAILED');
    t.match((failed as Error).message, /proof|password|authentication/i, 'with a message saying why');
    await raw.closed;
    t.equal(await records('secure'), before, 'nothing was written');
  });

  await t.test('before authentication only ApiVersions and SASL are answered; anything else closes the connection', async (t) => {
    const raw = await RawKafka.open(bootstrap[0]!);
    const versions = await raw.send('ApiVersions', 2, {});
    t.ok(versions?.apiKeys.some((k) => k.apiKey === 17 && k.maxVersion === 1) && versions.apiKeys.some((k) => k.apiKey === 36 && k.maxVersion === 1), 'SaslHandshake and SaslAuthenticate 0-1 advertised');
    t.equal(await raw.send('Metadata', 8, { topics: null, includeTopicAuthorizedOperations: false, includeClusterAuthorizedOperations: false }), null);
    await raw.closed;
  });

  await t.test('a user without ACLs: TOPIC_AUTHORIZATION_FAILED for produce and fetch, the topic left out of Metadata', async (t) => {
    const before = await records('secure');
    // The v0 handshake: bare SASL tokens, as clients older than Kafka 1.0 send them.
    const raw = await RawKafka.open(bootstrap[0]!);
    t.teardown(() => raw.close());
    await raw.authenticate('scram-sha-512', 'nobody', 'nobody-secret', 0);
    const listing = await raw.send('Metadata', 8, { topics: null, includeTopicAuthorizedOperations: false, includeClusterAuthorizedOperations: false });
    t.same(listing?.topics.map((tp) => tp.name), [], 'the listing hides the topic');
    const named = await raw.send('Metadata', 8, { topics: [{ name: 'secure' }, { name: 'ghost' }], includeTopicAuthorizedOperations: false, includeClusterAuthorizedOperations: false });
    t.same(named?.topics.map((tp) => tp.errorCode), [29, 29], 'named: refused whether or not it exists');
    const produced = await raw.send('Produce', 7, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: 'secure', partitionData: [0, 1, 2].map((index) => ({ index, records: buildBatch([{ value: 'no' }]) })) }] });
    t.same(produced?.responses[0]!.partitionResponses.map((p) => p.errorCode), [29, 29, 29], 'produce: TOPIC_AUTHORIZATION_FAILED on every partition');
    const fetched = await raw.send('Fetch', 11, { maxWaitMs: 0, minBytes: 0, isolationLevel: 0, sessionId: 0, topics: [{ topic: 'secure', partitions: [0, 1, 2].map((partition) => ({ partition, fetchOffset: 0, partitionMaxBytes: 1 << 20 })) }], forgottenTopicsData: [], rackId: '' });
    t.same(fetched?.responses[0]!.partitions.map((p) => p.errorCode), [29, 29, 29], 'fetch: TOPIC_AUTHORIZATION_FAILED on every partition');
    const coordinator = await raw.send('FindCoordinator', 2, { key: 'secure-group', keyType: 0 });
    t.equal(coordinator?.errorCode, 30, 'a group: GROUP_AUTHORIZATION_FAILED');
    const producerId = await raw.send('InitProducerId', 1, { transactionalId: null, transactionTimeoutMs: -1 });
    t.equal(producerId?.errorCode, 31, 'an idempotent producer without write on any topic: CLUSTER_AUTHORIZATION_FAILED');
    t.equal(await records('secure'), before, 'nothing was written');

    const producer = kafkaAs('scram-sha-512', 'nobody', 'nobody-secret', { retry: { retries: 0 } }).producer();
    await producer.connect();
    const error = await producer.send({ topic: 'secure', messages: [{ value: 'no' }] }).catch((e: Error & { cause?: { type?: string } }) => e);
    await producer.disconnect();
    t.equal((error as { cause?: { type?: string } }).cause?.type, 'TOPIC_AUTHORIZATION_FAILED', 'kafkajs reports it, not retried');
  });

  await t.test("deleting a user closes its Kafka connections", async (t) => {
    await admin.createUser({ name: 'temp', password: 'temp-secret', mechanism: 'scram-sha-256' });
    const raw = await RawKafka.open(bootstrap[1]!);
    t.teardown(() => raw.close());
    await waitFor('temp authenticated', () => raw.authenticate('scram-sha-256', 'temp', 'temp-secret').then(() => true, () => undefined));
    t.ok(await raw.send('ApiVersions', 2, {}), 'authenticated and served');
    await admin.deleteUser('temp');
    await raw.closed;
    t.pass('the connection was closed');
  });
});

t.test('--authn mtls: a kafkajs client certificate is the principal', async (t) => {
  const { cluster, client } = await startCluster(
    t,
    { brokers: 1, kafka: true, brokerArgs: (id) => [...tlsArgs(id), '--tls-client-auth', 'require'], extraArgs: ['--authn', 'mtls', '--superusers', 'admin,broker-1'] },
    { tls: { ca: pem(certs.ca), cert: pem(certs.clients.get('admin')!.cert), key: pem(certs.clients.get('admin')!.key) } },
  );
  await client.admin().createTopic({ topic: 'mtls', partitions: 1, replicationFactor: 1 });
  await client.admin().createAcls([
    { principal: 'User:alice', permission: 'allow', operation: 'write', resourceType: 'topic', resourceName: 'mtls', patternType: 'literal' },
    { principal: 'User:alice', permission: 'allow', operation: 'read', resourceType: 'topic', resourceName: 'mtls', patternType: 'literal' },
  ]);
  const alice = { ca: [pem(certs.ca)], cert: pem(certs.clients.get('alice')!.cert), key: pem(certs.clients.get('alice')!.key) };
  const kafka = new Kafka({ clientId: 'alice', brokers: cluster.kafkaBootstrap, ssl: alice, ...quiet });
  const producer = kafka.producer();
  await waitFor('alice produces', () => producer.connect().then(() => producer.send({ topic: 'mtls', acks: -1, messages: [{ value: 'as alice' }] })).then(() => true, () => undefined), 30_000);
  await producer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets('mtls');
  await admin.disconnect();
  t.equal(offsets[0]!.high !== '0', true, 'alice wrote to the topic her certificate names her for');

  // Without a certificate the first request is answered SASL_AUTHENTICATION_FAILED, and not retried.
  const anonymous = new Kafka({ clientId: 'anonymous', brokers: cluster.kafkaBootstrap, ssl: { ca: [pem(certs.ca)] }, ...quiet, retry: { retries: 0 } }).admin();
  const error = await anonymous.connect().catch((e: { type?: string }) => e);
  t.equal((error as { type?: string })?.type, 'SASL_AUTHENTICATION_FAILED');
});
