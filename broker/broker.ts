/**
 * A running broker: storage, the peer stream layer, all Raft groups (the controller and
 * every partition replica placed here), and the client server, on one TCP port. This file
 * only composes the broker's parts and starts and stops them; each part's job is its own
 * module (README, "Design").
 */
import { mkdirSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { userPrincipal } from '../protocol/acls.js';
import { FlotillaError } from '../protocol/errors.js';
import { joinCluster, loadClusterFile, needsToJoin } from './cluster-file.js';
import { interBrokerAccess } from './cluster-request.js';
import { appendBytes, maxEntryBytes, type BrokerConfig } from './config.js';
import { Controller, CONTROLLER_GROUP } from './controller/controller.js';
import { ControllerSnapshotFile } from './controller/snapshot-file.js';
import { loadControllerSnapshot } from './controller/startup.js';
import { ControllerState, sameCredential, type ControllerEvent } from './controller/state.js';
import { decideFileBudget, RefusedOpenWarnings } from './fd-budget.js';
import { GroupCoordinator } from './groups/coordinator.js';
import { KafkaRegistration } from './kafka/registration.js';
import { KafkaGroups } from './kafka/groups.js';
import { kafkaListener } from './kafka/listener.js';
import type { KafkaServer } from './kafka/server.js';
import { GroupNames, logGroupDecisions } from './multiraft/decision-log.js';
import { MultiRaft } from './multiraft/multiraft.js';
import { BootstrapUserCreation } from './operations/bootstrap-user.js';
import { handOverLeadership } from './operations/hand-over.js';
import { LeaderBalancing } from './operations/leader-balancing.js';
import { MetadataCompaction } from './operations/metadata-compaction.js';
import { MetadataQuorum, metadataVoterCount } from './operations/metadata-quorum.js';
import { PartitionMoves } from './operations/moves.js';
import { Retention } from './operations/retention.js';
import { brokerSight } from './ops/console-sight.js';
import { BrokerMetrics } from './ops/metrics.js';
import { brokerOperations, type OperationsServer } from './ops/http-server.js';
import { logControllerEvent } from './ops/event-log.js';
import { Periodic } from './periodic.js';
import { ReplicaRepair } from './replicas/repair.js';
import { ReplicaSet } from './replicas/replica-set.js';
import { brokerAuthorizer, brokerDispatcher } from './requests/broker-dispatcher.js';
import type { ConnectionSession, Dispatcher } from './requests/dispatcher.js';
import { Listener } from './server/listener.js';
import { ClientServer } from './server/server.js';
import { StatsReporter } from './stats.js';
import { HardStateJournal } from './storage/hard-state-journal.js';
import { LogManager } from './storage/index.js';
import { Scrubber } from './storage/scrubber.js';
import { BrokerTls } from './security/tls.js';
import { PeerAuth } from './transport/peer-auth.js';
import { PeerTransport } from './transport/peers.js';

/** Something the broker starts after it listens and stops before its storage closes. */
interface Room {
  start(): void;
  stop(): void;
}

/** How often the replica set looks for replicas the metadata no longer places here (ReplicaSet.removeOrphans). */
const ORPHAN_CHECK_MS = 5_000;

export class Broker {
  readonly logger: Logger;
  readonly clusterId: string;
  /** Descriptors the storage may hold open (broker/fd-budget.ts). */
  readonly fileBudget: number;
  readonly logs: LogManager;
  private readonly hardStates: HardStateJournal;
  readonly transport: PeerTransport;
  readonly raft: MultiRaft;
  readonly controller: Controller;
  /** Consumer groups; active while this broker is the controller leader. */
  readonly groups: GroupCoordinator;
  readonly kafkaGroups: KafkaGroups;
  /** Partition replicas hosted here. */
  readonly replicas: ReplicaSet;
  private readonly repairs: ReplicaRepair;
  /** Checks sealed segments for bit rot in the background (--scrub-bytes-per-sec). */
  private readonly scrubber: Scrubber;
  readonly balancing: LeaderBalancing;
  /** Background work on timers, in start order. */
  private readonly rooms: Room[];
  /** Every request of every listener goes through it. */
  readonly dispatcher: Dispatcher;
  private readonly clients: ClientServer;
  private readonly listener: Listener;
  /** The Kafka listener (--kafka-listen), when asked for. */
  private readonly kafka: KafkaServer | null;
  readonly metrics: BrokerMetrics;
  /** The operations endpoints (--http-listen), when on. */
  private readonly operations: OperationsServer | null;
  /** TLS on the port and for dialing peers (--tls-cert); absent: plaintext. */
  readonly tls: BrokerTls | undefined;
  private stopping: Promise<void> | null = null;

  constructor(readonly config: BrokerConfig, logger?: Logger, tls?: BrokerTls) {
    this.logger = logger ?? pino({ level: config.logLevel, base: { broker: config.id } });
    this.tls = tls ?? (config.tls ? new BrokerTls(config.tls, config.frameTimeoutMs, this.logger) : undefined);
    mkdirSync(config.dataDir, { recursive: true });
    // Read only when scraped, once every part exists.
    this.metrics = new BrokerMetrics(config.metricsDetail, () => ({
      config, controller: this.controller, replicas: this.replicas, transport: this.transport, raft: this.raft, scrubber: this.scrubber, clients: this.clients, repairs: this.repairs,
    }));
    const cluster = loadClusterFile(config);
    this.clusterId = cluster.clusterId;
    this.fileBudget = decideFileBudget(config, this.logger);
    const refusedOpens = new RefusedOpenWarnings(this.logger, this.fileBudget, () => this.logs.files.openCount);
    this.logs = new LogManager({
      dataDir: config.dataDir,
      durability: config.fsync,
      flushIntervalMs: config.fsyncIntervalMs,
      maxOpenFiles: this.fileBudget,
      tailCacheBytes: config.logCacheBytes,
      onRefusedOpen: (error) => refusedOpens.note(error),
    });
    this.logs.files.onSync = (seconds) => this.metrics.observeFsync(seconds);
    this.transport = new PeerTransport({
      id: config.id,
      clusterId: cluster.clusterId,
      address: config.advertise,
      logger: this.logger,
      maxFrameBytes: config.maxFrameBytes,
      maxInboundConnections: config.maxPeerConnections,
      ...(this.tls ? { tls: this.tls } : {}),
      auth: PeerAuth.of(config, cluster.clusterId),
      onMessages: (_from, messages) => this.raft.deliver(messages),
      onPeerLost: (peer) => this.raft.peerLost(peer),
    });
    this.hardStates = new HardStateJournal(config.dataDir, this.logs.files);
    this.scrubber = new Scrubber({
      logs: () => this.logs.openLogs(),
      bytesPerSec: config.scrubBytesPerSec,
      minPassMs: config.scrubIntervalMs,
      onPass: (pass) => {
        this.logger.info(pass, 'scrub pass completed');
        this.repairs.checkControllerSnapshot();
      },
      // The log has reported it (MultiRaft logs it and starts the repair): say who found it.
      onFinding: (error) => this.logger.warn({ log: error.dir, offset: error.offset, file: error.file, position: error.position, reason: error.reason }, 'the scrubber found a corrupt batch'),
      onSkipped: (log, baseOffset, error) => this.logger.warn({ log, baseOffset, err: error }, 'the scrubber could not check a segment; the next pass tries again'),
    });
    // A failure the broker cannot go on from (its log explains it): stop, then exit non-zero.
    const failStop = () => this.stop().finally(() => process.exit(1));
    // The controller comes after MultiRaft; its topic table is read only when events arrive.
    const groupNames = new GroupNames(CONTROLLER_GROUP, () => this.controller.state.topics);
    this.raft = new MultiRaft({
      id: config.id,
      logs: this.logs,
      hardStates: this.hardStates,
      transport: this.transport,
      logger: this.logger,
      fsync: config.fsync,
      tickMs: config.tickMs,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      maxBytesPerMsg: appendBytes(config),
      recoveryConcurrency: config.recoveryConcurrency,
      onFatal: () => void failStop(),
      onCorruption: (groupId, error) => void this.repairs.repair(groupId, error.offset),
      trace: this.metrics.counting(logGroupDecisions(this.logger, (groupId) => groupNames.nameOf(groupId), (groupId) => this.raft.get(groupId)?.node.currentTerm)),
    });

    const initial = new ControllerState();
    for (const [id, address] of cluster.initialCluster) initial.brokers.set(id, { id, address });
    this.controller = new Controller(this.raft, initial, (event) => this.onControllerEvent(event), new ControllerSnapshotFile(config.dataDir, this.logs.files), config.metadataSegmentBytes, maxEntryBytes(config));
    this.replicas = new ReplicaSet({ config, raft: this.raft, controller: this.controller, logs: this.logs, logger: this.logger, onFatal: () => void failStop(), produceObserver: this.metrics.produceObserver });
    this.repairs = new ReplicaRepair({
      config,
      replicas: this.replicas,
      controller: this.controller,
      raft: this.raft,
      logger: this.logger,
      stopping: () => this.stopping !== null,
      failStop,
    });
    const snapshot = loadControllerSnapshot(this.controller, this.logs, this.logger);
    this.groups = new GroupCoordinator({ controller: this.controller, logger: this.logger, claimedElsewhere: (id) => this.kafkaGroups.isActive(id) });
    this.kafkaGroups = new KafkaGroups({ controller: this.controller, logger: this.logger, nativeGroupActive: (id) => this.groups.hasMembers(id) });
    const ids = cluster.initialCluster.map(([id]) => id).sort((a, b) => a - b);
    // Up to 5 brokers vote on the metadata; the rest follow it as learners.
    const voters = cluster.controllerVoters ?? ids.slice(0, metadataVoterCount(ids.length));
    const learners = ids.filter((id) => !voters.includes(id));
    this.controller.createGroup(snapshot ?? { index: -1, term: 0, voters, learners });
    for (const [id, address] of cluster.initialCluster) this.transport.setPeer(id, address);
    this.replicas.openOnDisk();
    // Replaying the log would have announced these; the snapshot stands for that part.
    if (snapshot) this.controller.announceSnapshot();
    this.controller.noteStartup();

    this.balancing = new LeaderBalancing(this.replicas, this.logger);
    this.rooms = [
      new Retention(this.replicas, this.logger),
      this.balancing,
      new MetadataQuorum(this.controller, this.raft, this.logger),
      new PartitionMoves({ config, controller: this.controller, replicas: this.replicas, raft: this.raft, logger: this.logger, access: interBrokerAccess(config, this.tls) }),
      new MetadataCompaction(this.controller, config.controllerSnapshotEntries, this.logger),
      new Periodic(ORPHAN_CHECK_MS, () => this.replicas.removeOrphans()),
      new KafkaRegistration(config, interBrokerAccess(config, this.tls), this.controller, this.logger),
      this.metrics.traffic,
      new StatsReporter({ raft: this.raft, transport: this.transport, logs: this.logs, scrubber: this.scrubber, balancing: this.balancing, repairs: this.repairs }, config.statsIntervalMs, this.logger),
    ];
    if (config.bootstrapUser) this.rooms.push(new BootstrapUserCreation(this.controller, config.bootstrapUser, this.logger));

    const host = { config, clusterId: this.clusterId, controller: this.controller, replicas: this.replicas, transport: this.transport, balanceLeaders: () => this.balancing.balanceNow() };
    const sight = { config, controller: this.controller, replicas: this.replicas, transport: this.transport, traffic: this.metrics.traffic, groups: this.groups };
    const authorizer = brokerAuthorizer(config, this.controller);
    this.dispatcher = brokerDispatcher({ config, authorizer, host, controller: this.controller, groups: this.groups, metricsHook: this.metrics.requestHook, brokerSight: () => brokerSight(sight) });
    this.clients = new ClientServer(config, this.logger, this.dispatcher);
    this.listener = new Listener(config, { client: (s, identity) => this.clients.accept(s, identity), peer: (s) => this.transport.accept(s) }, this.logger, this.tls);
    this.kafka = kafkaListener({ config, dispatcher: this.dispatcher, authorizer, replicas: this.replicas, clusterId: this.clusterId, groups: this.kafkaGroups, controller: this.controller, metrics: this.metrics, logger: this.logger, tls: this.tls, reachable: (id) => this.transport.isConnected(id) });
    const listening = () => this.listener.listening;
    this.operations = config.httpListen === undefined ? null : brokerOperations(config.httpListen, { ...sight, metrics: this.metrics, listening, access: interBrokerAccess(config, this.tls) }, this.logger);
  }

  async start(): Promise<void> {
    await this.listener.listen();
    this.tls?.start();
    await this.kafka?.listen();
    this.raft.start();
    this.groups.start();
    this.kafkaGroups.start();
    for (const room of this.rooms) room.start();
    this.scrubber.start();
    await this.operations?.start();
    // The thread pool runs the fsyncs; the `flotilla` launcher sizes it (UV_THREADPOOL_SIZE, node's default 4).
    const threadPool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    this.logger.info({ listen: this.config.listen, kafkaListen: this.config.kafkaListen, dataDir: this.config.dataDir, threadPool, nodeFlags: process.execArgv }, 'broker started');
  }

  /** Peers follow the metadata's brokers; everything about partitions is the replica set's. */
  private onControllerEvent(event: ControllerEvent): void {
    logControllerEvent(this.logger, this.controller.group?.node.currentTerm ?? 0, event);
    switch (event.type) {
      case 'brokerRegistered':
        this.transport.setPeer(event.broker.id, event.broker.address);
        return;
      case 'credentialsRevoked': {
        const principal = userPrincipal(event.name);
        const closed = this.closeConnectionsWhere((session) => session.principal === principal);
        if (closed) this.logger.info({ user: event.name, connections: closed }, 'closed the connections of a user whose credential was deleted or replaced');
        return;
      }
      case 'brokerRemoved':
        if (event.id === this.config.id) this.logger.warn('this broker was removed from the cluster; it may be stopped');
        else this.transport.removePeer(event.id);
        return;
      case 'snapshotAdopted': {
        const { brokers, users } = this.controller.state;
        this.transport.syncPeers([...brokers.values()]);
        const closed = this.closeConnectionsWhere(({ scram }) => {
          if (!scram) return false;
          const now = users.get(scram.user);
          return !now || !sameCredential(now, scram.credential);
        });
        if (closed) this.logger.info({ connections: closed }, 'closed the connections of users deleted or given a new credential while this broker was behind');
        return;
      }
      default:
        this.replicas.onControllerEvent(event);
    }
  }

  /** Closes the client connections (both listeners) whose session `revoked` picks; how many. */
  private closeConnectionsWhere(revoked: (session: ConnectionSession) => boolean): number {
    return (this.clients?.closeConnectionsWhere(revoked) ?? 0) + (this.kafka?.closeConnectionsWhere(revoked) ?? 0);
  }

  /** On SIGHUP: reads the TLS certificate files again; the old pair stays if the new one is bad. */
  reloadTls(): void {
    if (this.tls) this.tls.reload('SIGHUP');
    else this.logger.info('SIGHUP: TLS is off, there is no certificate to reload');
  }

  /**
   * Clean shutdown: hand leadership of our groups to caught-up peers, wait briefly for it
   * to move, then stop serving and close storage (everything appended is flushed).
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.logger.info('broker stopping');
    await handOverLeadership(this.raft, 3000);
    this.clients.close();
    this.kafka?.close();
    this.operations?.close();
    this.groups.stop();
    this.kafkaGroups.stop();
    this.listener.close();
    this.tls?.stop();
    this.raft.stop();
    for (const room of this.rooms) room.stop();
    const stopping = new FlotillaError('SHUTTING_DOWN', 'the broker is shutting down; retry at another broker');
    this.replicas.closeAll(stopping);
    this.controller.close(stopping);
    this.transport.close();
    await this.scrubber.stop();
    await this.logs.close();
    this.hardStates.close();
    this.logger.info('broker stopped');
  }
}

export async function startBroker(config: BrokerConfig, logger?: Logger): Promise<Broker> {
  const log = logger ?? pino({ level: config.logLevel, base: { broker: config.id } });
  const tls = config.tls ? new BrokerTls(config.tls, config.frameTimeoutMs, log) : undefined;
  if (needsToJoin(config)) await joinCluster(config, log, tls);
  const broker = new Broker(config, log, tls);
  try {
    await broker.start();
  } catch (error) {
    // A port it cannot have, say: close what already runs (peer connections, timers, logs)
    // so that the process ends now, rather than serve as a replica without its port.
    await broker.stop().catch(() => undefined);
    throw error;
  }
  return broker;
}
