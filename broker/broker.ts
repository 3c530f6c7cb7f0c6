/**
 * A running broker: storage, the peer stream layer, all Raft groups (the controller and
 * every partition replica placed here), and the client server, on one TCP port.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { FlotillaError } from '../protocol/errors.js';
import { routeConnection } from '../protocol/frame.js';
import { parseHostPort, type BrokerConfig } from './config.js';
import { descriptorBudget, readOpenFileLimit } from './fd-budget.js';
import { Controller, CONTROLLER_GROUP, CONTROLLER_LOG } from './controller/controller.js';
import { ControllerSnapshotFile, CorruptSnapshot } from './controller/snapshot-file.js';
import { ControllerState, type ControllerEvent } from './controller/state.js';
import { GroupCoordinator } from './groups/coordinator.js';
import { MultiRaft } from './multiraft/multiraft.js';
import type { ConfigChange } from './raft/membership.js';
import type { Status } from './raft/raft.js';
import type { Snapshot } from './raft/types.js';
import { controllerRequest } from './cluster-request.js';
import type { PartitionReplica } from './partition/partition.js';
import { ClientServer } from './server/server.js';
import { Dispatcher } from './requests/dispatcher.js';
import { adminHandlers } from './admin/admin-handlers.js';
import { metadataHandlers } from './admin/metadata-handlers.js';
import { dataHandlers } from './partition/data-handlers.js';
import { groupHandlers } from './groups/handlers.js';
import { ReplicaSet } from './replicas/replica-set.js';
import { ReplicaRepair } from './replicas/repair.js';
import { replaceFileSync } from './storage/files.js';
import { LeaderBalancer } from './leader-balancer.js';
import { LogManager } from './storage/index.js';
import { HardStateJournal } from './storage/hard-state-journal.js';
import { Scrubber } from './storage/scrubber.js';
import { PeerTransport } from './transport/peers.js';
import { GroupNames, logGroupDecisions } from './multiraft/decision-log.js';

/** What the data directory remembers about the cluster: it wins over command-line flags. */
interface ClusterFile {
  clusterId: string;
  brokerId: number;
  initialCluster: Array<[number, string]>;
  /** Set by --join: who voted on the metadata when this broker joined. */
  controllerVoters?: number[];
}

const CLUSTER_FILE = 'cluster.json';
const RETENTION_CHECK_MS = 5000;
/** How often a broker looks for partitions it leads that belong to another broker's leadership. */
const LEADER_BALANCE_MS = 10_000;
/** How often finished transfers free their slots and, while partitions wait for one, the next start. */
const LEADER_BALANCE_STEP_MS = 250;
/**
 * Leadership transfers a broker runs at once. A transfer costs each replica of its group a
 * vote round, a durable term and the new leader's first entry, and its partition refuses
 * writes until it ends; the bound caps that burst (thousands of partitions after a broker
 * returns) without making a full hand-back slow: one transfer takes about one round trip
 * and one fsync, so 3,333 partitions go back in about 50 windows.
 */
export const LEADER_TRANSFERS_IN_FLIGHT = 64;
/** At most one warning about refused opens this often. */
const REFUSAL_WARNING_MS = 10_000;
/** How often partition leaders take the next step of a partition move. */
const MOVE_STEP_MS = 250;

/** How many brokers vote on the metadata: 3 (or all, when fewer), 5 once there are 5. */
export function metadataVoterCount(brokers: number): number {
  return brokers >= 5 ? 5 : Math.min(3, brokers);
}

export class Broker {
  readonly logger: Logger;
  readonly logs: LogManager;
  readonly transport: PeerTransport;
  readonly raft: MultiRaft;
  private readonly hardStates: HardStateJournal;
  /** Checks sealed segments for bit rot in the background (--scrub-bytes-per-sec). */
  private readonly scrubber: Scrubber;
  readonly controller: Controller;
  /** Consumer groups; active while this broker is the controller leader. */
  readonly groups: GroupCoordinator;
  /** Partition replicas hosted here. */
  readonly replicas: ReplicaSet;
  private readonly repairs: ReplicaRepair;
  private readonly server: Server;
  /** Every request of every listener goes through it. */
  readonly dispatcher: Dispatcher;
  private readonly clients: ClientServer;
  private retentionTimer: NodeJS.Timeout | null = null;
  private balanceTimer: NodeJS.Timeout | null = null;
  /** Hands partitions led here back to their preferred replicas, a bounded number at a time. */
  readonly balancer: LeaderBalancer;
  private lastBalancePass = 0;
  private moveTimer: NodeJS.Timeout | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  /** Partitions whose move-completed report is on its way to the controller. */
  private readonly reportingMoves = new Set<string>();
  readonly clusterId: string;
  /** Descriptors the storage may hold open (see decideFileBudget). */
  readonly fileBudget: number;
  /** Refused opens not yet reported in a warning, and when the last warning went out. */
  private refusedSinceWarning = 0;
  private lastRefusalWarning = 0;
  private stopping: Promise<void> | null = null;

  constructor(readonly config: BrokerConfig, logger?: Logger) {
    this.logger = logger ?? pino({ level: config.logLevel, base: { broker: config.id } });
    mkdirSync(config.dataDir, { recursive: true });
    const cluster = this.loadClusterFile();
    this.clusterId = cluster.clusterId;
    this.fileBudget = this.decideFileBudget();
    this.logs = new LogManager({
      dataDir: config.dataDir,
      durability: config.fsync,
      flushIntervalMs: config.fsyncIntervalMs,
      maxOpenFiles: this.fileBudget,
      onRefusedOpen: (error) => this.noteRefusedOpen(error),
    });
    this.transport = new PeerTransport({
      id: config.id,
      clusterId: cluster.clusterId,
      address: config.advertise,
      logger: this.logger,
      maxFrameBytes: config.maxFrameBytes,
      maxInboundConnections: config.maxPeerConnections,
      onMessages: (_from, messages) => this.raft.deliver(messages),
    });
    this.hardStates = new HardStateJournal(config.dataDir, this.logs.files);
    this.scrubber = new Scrubber({
      logs: () => this.logs.openLogs(),
      bytesPerSec: config.scrubBytesPerSec,
      onPass: (pass) => this.logger.info(pass, 'scrub pass completed'),
      // The log has reported it (MultiRaft logs it and starts the repair): say who found it.
      onFinding: (error) => this.logger.warn({ log: error.dir, offset: error.offset, file: error.file, position: error.position, reason: error.reason }, 'the scrubber found a corrupt batch'),
      onSkipped: (log, baseOffset, error) => this.logger.warn({ log, baseOffset, err: error }, 'the scrubber could not check a segment; the next pass tries again'),
    });
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
      recoveryConcurrency: config.recoveryConcurrency,
      onFatal: () => void this.stop().finally(() => process.exit(1)),
      onCorruption: (groupId, error) => void this.repairs.repair(groupId, error.offset),
      trace: logGroupDecisions(this.logger, (groupId) => groupNames.nameOf(groupId)),
    });

    const initial = new ControllerState();
    for (const [id, address] of cluster.initialCluster) initial.brokers.set(id, { id, address });
    this.balancer = new LeaderBalancer({
      maxInFlight: LEADER_TRANSFERS_IN_FLIGHT,
      replicas: () => this.replicas.all(),
      log: (fields, message) => this.logger.info(fields, message),
    });
    this.controller = new Controller(this.raft, initial, (event) => this.onControllerEvent(event), new ControllerSnapshotFile(config.dataDir, this.logs.files));
    this.replicas = new ReplicaSet({ config, raft: this.raft, controller: this.controller, logs: this.logs, logger: this.logger });
    this.repairs = new ReplicaRepair({
      config,
      replicas: this.replicas,
      raft: this.raft,
      logger: this.logger,
      stopping: () => this.stopping !== null,
      failStop: () => this.stop().finally(() => process.exit(1)),
    });
    const snapshot = this.loadControllerSnapshot();
    this.groups = new GroupCoordinator({ controller: this.controller, logger: this.logger });
    const ids = cluster.initialCluster.map(([id]) => id).sort((a, b) => a - b);
    // Up to 5 brokers vote on the metadata; the rest follow it as learners.
    const voters = cluster.controllerVoters ?? ids.slice(0, metadataVoterCount(ids.length));
    const learners = ids.filter((id) => !voters.includes(id));
    this.controller.group = this.raft.create({
      groupId: CONTROLLER_GROUP,
      logName: CONTROLLER_LOG,
      voters,
      learners,
      // The metadata log is cut by compaction (maybeCompact), never by retention.
      logOptions: { retentionMs: -1, retentionBytes: -1 },
      stateMachine: this.controller,
      // A returning broker needs the metadata before any partition's data.
      skipRecoveryLine: true,
      // The metadata is built by every entry after its snapshot (or from the start).
      snapshot: snapshot ?? { index: -1, term: 0, voters, learners },
    });
    for (const [id, address] of cluster.initialCluster) this.transport.setPeer(id, address);
    this.replicas.openOnDisk();
    // Replaying the log would have announced these; the snapshot stands for that part.
    if (snapshot) this.controller.announceTopics();
    this.controller.noteStartup();

    this.dispatcher = new Dispatcher({ ...dataHandlers(this), ...metadataHandlers(this), ...adminHandlers(this), ...groupHandlers(this.groups) });
    this.clients = new ClientServer(config, this.logger, this.dispatcher);
    this.server = createServer({ noDelay: true });
    // Clients and peers are counted apart once their type byte is read (ClientServer,
    // PeerTransport), so that clients can never take the slots replication needs. This cap
    // only bounds the sockets (and descriptors) of both, plus sockets that have not sent
    // their type byte yet, which close after --frame-timeout-ms.
    this.server.maxConnections = config.maxConnections + config.maxPeerConnections;
    this.server.on('connection', (socket: Socket) =>
      routeConnection(socket, {
        client: (s) => this.clients.accept(s),
        peer: (s) => this.transport.accept(s),
        rejected: (s, reason) => this.logger.debug({ remote: s.remoteAddress, reason }, 'closed a connection'),
      }, config.frameTimeoutMs),
    );
  }

  async start(): Promise<void> {
    const { host, port } = parseHostPort(this.config.listen, '--listen');
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.raft.start();
    this.groups.start();
    this.retentionTimer = setInterval(() => this.applyRetention(), RETENTION_CHECK_MS);
    this.retentionTimer.unref();
    // Placement spreads preferred leaders evenly; elections do not. Moving leadership back
    // also rebalances after a broker returns.
    this.lastBalancePass = Date.now();
    this.balanceTimer = setInterval(() => this.stepBalancing(), LEADER_BALANCE_STEP_MS);
    this.balanceTimer.unref();
    this.moveTimer = setInterval(() => {
      this.stepMoves();
      this.compactMetadata();
    }, MOVE_STEP_MS);
    this.moveTimer.unref();
    this.scrubber.start();
    if (this.config.statsIntervalMs > 0) {
      this.statsTimer = setInterval(() => this.logStats(), this.config.statsIntervalMs);
      this.statsTimer.unref();
    }
    this.logger.info({ listen: this.config.listen, dataDir: this.config.dataDir }, 'broker started');
  }

  // ---------------------------------------------------------------------------------------
  // Partition replicas

  private onControllerEvent(event: ControllerEvent): void {
    switch (event.type) {
      case 'brokerRegistered':
        this.transport.setPeer(event.broker.id, event.broker.address);
        return;
      case 'brokerRemoved':
        if (event.id === this.config.id) this.logger.warn('this broker was removed from the cluster; it may be stopped');
        else this.transport.removePeer(event.id);
        return;
      default:
        this.replicas.onControllerEvent(event);
    }
  }

  /**
   * The controller's snapshot, or undefined when there is none. A corrupt one is set aside
   * and the metadata starts from nothing: the log that followed it no longer continues a
   * known state, so it is reset (its loss recorded first, so this broker does not vote on
   * the metadata until it has caught up) and the leader sends its own snapshot.
   */
  private loadControllerSnapshot(): Snapshot | undefined {
    try {
      return this.controller.loadSnapshot();
    } catch (err) {
      if (!(err instanceof CorruptSnapshot)) throw err;
      const aside = this.controller.snapshotFile.setAside();
      const log = this.logs.open(CONTROLLER_LOG, { retentionMs: -1, retentionBytes: -1 });
      log.recordLoss(Math.max(log.lastIndex(), 0));
      this.logger.error({ err: err.message, keptAs: aside }, 'corrupt controller snapshot; starting the metadata from nothing and catching up from the controller leader');
      return undefined;
    }
  }

  /**
   * Partition moves, driven by each moving partition's leader as Raft membership changes,
   * one at a time: add the new replicas as learners, promote each once it has caught up,
   * hand leadership away if this broker is leaving, remove the old replicas; then tell the
   * controller. Voters never drop below the old majority of caught-up replicas.
   */
  private stepMoves(): void {
    this.growControllerQuorum();
    for (const replica of this.replicas.all()) {
      if (!replica.isLeader) continue;
      const assignment = this.controller.state.topics.get(replica.topic)?.partitions[replica.partition];
      if (!assignment?.previous || assignment.groupId !== replica.group.groupId) continue;
      try {
        if (this.stepMove(replica, assignment.replicas)) this.reportMoveDone(replica, assignment.replicas);
      } catch (error) {
        // LEADER_NOT_AVAILABLE (a change still committing), NOT_ENOUGH_REPLICAS (not caught up): next step.
        if (!(error instanceof FlotillaError) || !error.retriable) this.logger.warn({ err: error, topic: replica.topic, partition: replica.partition }, 'partition move step failed');
      }
    }
  }

  /**
   * Up to 3 brokers vote on the metadata (5 once the cluster has 5 or more): the
   * controller leader promotes a caught-up learner while there are fewer, one at a time.
   */
  private growControllerQuorum(): void {
    const group = this.controller.group;
    if (group.node.currentRole !== 'leader') return;
    const status = group.node.status();
    const wanted = metadataVoterCount(this.controller.state.brokers.size);
    if (status.membership.voters.length >= wanted) return;
    const ready = status.membership.learners.find((id) => this.controller.state.brokers.has(id) && (status.progress[id]?.match ?? -1) >= status.commit && status.progress[id]?.recentActive);
    if (ready === undefined) return;
    try {
      this.raft.withNode(group, (node) => node.proposeConfigChange({ type: 'promote', id: ready }));
      this.logger.info({ promoted: ready }, 'promoting a broker to vote on the metadata');
    } catch {
      // Another change is still committing: the next pass tries again.
    }
  }

  /** Takes the next membership step towards `target`; true when the voters are `target`. */
  private stepMove(replica: PartitionReplica, target: number[]): boolean {
    const status = replica.group.node.status();
    const step = nextMoveStep(status, target, this.config.id);
    if (step.kind === 'done') return true;
    if (step.kind === 'change') {
      this.raft.withNode(replica.group, (node) => node.proposeConfigChange(step.change));
      this.logger.info({ topic: replica.topic, partition: replica.partition, change: step.change }, 'partition move step');
    } else if (step.kind === 'handOver') {
      this.raft.withNode(replica.group, (node) => node.transferLeadership(step.to));
    }
    return false;
  }

  private reportMoveDone(replica: PartitionReplica, target: number[]): void {
    const key = `${replica.topic}/${replica.partition}`;
    if (this.reportingMoves.has(key)) return;
    this.reportingMoves.add(key);
    const addresses = [this.controller.addressOf(this.controller.leaderId), ...[...this.controller.state.brokers.values()].map((b) => b.address)].filter((a): a is string => !!a);
    controllerRequest(addresses, { movePartition: { topic: replica.topic, partition: replica.partition, replicas: target, completed: true } }, 10_000)
      .then(() => this.logger.info({ topic: replica.topic, partition: replica.partition, replicas: target }, 'partition move completed'))
      .catch((error) => this.logger.warn({ err: error, topic: replica.topic, partition: replica.partition }, 'could not report a finished move; retrying'))
      .finally(() => this.reportingMoves.delete(key));
  }

  /**
   * Starts transfers to the preferred leader of partitions led here by another, as many as
   * free slots allow (LEADER_TRANSFERS_IN_FLIGHT); returns how many started. The rest
   * follow as earlier transfers finish.
   */
  balanceLeaders(): number {
    this.lastBalancePass = Date.now();
    return this.balancer.pass();
  }

  /** Frees the slots of finished transfers; a pass when partitions wait for a slot, when the last transfer ended, or every LEADER_BALANCE_MS. */
  private stepBalancing(): void {
    const inFlight = this.balancer.transfersInFlight;
    this.balancer.reap();
    const drained = inFlight > 0 && this.balancer.transfersInFlight === 0;
    if (this.balancer.pending || drained || Date.now() - this.lastBalancePass >= LEADER_BALANCE_MS) this.balanceLeaders();
  }

  /**
   * The storage's descriptor budget: `ulimit -n` less a reserve for sockets (broker/fd-budget.ts),
   * or --max-open-files when that is smaller.
   */
  private decideFileBudget(): number {
    const budget = descriptorBudget(readOpenFileLimit(), this.config.maxConnections);
    const asked = this.config.maxOpenFiles;
    if (asked !== undefined && asked > budget.files) {
      this.logger.warn({ maxOpenFiles: asked, openFileLimit: budget.limit, socketReserve: budget.reserve, fileBudget: budget.files }, '--max-open-files is above what ulimit -n leaves for files; lowered to the budget');
    }
    const files = asked !== undefined ? Math.min(asked, budget.files) : budget.files;
    this.logger.info({ openFileLimit: budget.limit, socketReserve: budget.reserve, fileBudget: files }, 'open-file budget');
    return files;
  }

  /** One warning per interval, not one per refused open: a burst can refuse thousands. */
  private noteRefusedOpen(error: FlotillaError): void {
    this.refusedSinceWarning++;
    const now = Date.now();
    if (now - this.lastRefusalWarning < REFUSAL_WARNING_MS) return;
    this.logger.warn({ refusedOpens: this.refusedSinceWarning, fileBudget: this.fileBudget, openFiles: this.logs.files.openCount, example: error.message }, 'storage opens refused for lack of descriptors; the operations are retried');
    this.refusedSinceWarning = 0;
    this.lastRefusalWarning = now;
  }

  private lastStats = { at: Date.now(), cpu: process.cpuUsage(), frames: 0, raftMessages: 0, groupHeartbeats: 0 };

  /** One line: groups (quiesced, led, their followers lagging), peer traffic per second, CPU share of one core, memory, recovery permits, open files against their budget, scrub progress, leader balancing. */
  private logStats(): void {
    const now = Date.now();
    const cpu = process.cpuUsage();
    const seconds = Math.max(0.001, (now - this.lastStats.at) / 1000);
    const { frames, raftMessages, groupHeartbeats, droppedMessages } = this.transport.stats;
    let groups = 0;
    let quiesced = 0;
    let leaders = 0;
    let laggingFollowers = 0;
    for (const group of this.raft.all()) {
      groups++;
      if (group.quiescedUnder !== undefined) quiesced++;
      if (group.node.currentRole === 'leader') leaders++;
      laggingFollowers += group.node.laggingFollowers();
    }
    const cpuMicros = cpu.user + cpu.system - this.lastStats.cpu.user - this.lastStats.cpu.system;
    this.logger.info({
      groups, quiesced, leaders, laggingFollowers,
      peerFramesPerSec: Math.round((frames - this.lastStats.frames) / seconds),
      raftMessagesPerSec: Math.round((raftMessages - this.lastStats.raftMessages) / seconds),
      groupHeartbeatsPerSec: Math.round((groupHeartbeats - this.lastStats.groupHeartbeats) / seconds),
      peerMessagesDropped: droppedMessages,
      cpuPercent: Math.round((cpuMicros / 1e6 / seconds) * 1000) / 10,
      rssMiB: Math.round(process.memoryUsage.rss() / 1048576),
      heapMiB: Math.round(process.memoryUsage().heapUsed / 1048576),
      recoveries: this.raft.recoveryStats(),
      ...this.logs.files.stats(),
      scrub: this.scrubber.stats(),
      balancing: this.balancer.stats(),
    }, 'stats');
    this.lastStats = { at: now, cpu, frames, raftMessages, groupHeartbeats };
  }

  private compactMetadata(): void {
    try {
      if (this.controller.maybeCompact(this.config.controllerSnapshotEntries)) this.logger.debug('metadata log compacted');
    } catch (error) {
      this.logger.error({ err: error }, 'metadata log compaction failed; it will be retried');
    }
  }

  private applyRetention(): void {
    const now = Date.now();
    for (const replica of this.replicas.all()) {
      try {
        replica.group.log.applyRetention(now, replica.highWatermark - 1);
      } catch (error) {
        this.logger.error({ err: error, topic: replica.topic, partition: replica.partition }, 'retention failed');
      }
    }
  }

  // ---------------------------------------------------------------------------------------

  private loadClusterFile(): ClusterFile {
    const path = join(this.config.dataDir, CLUSTER_FILE);
    if (existsSync(path)) {
      const saved = JSON.parse(readFileSync(path, 'utf8')) as ClusterFile;
      if (saved.brokerId !== this.config.id) {
        throw new FlotillaError('INVALID_CONFIG', `data directory ${this.config.dataDir} belongs to broker ${saved.brokerId}, not --id ${this.config.id}`);
      }
      return saved;
    }
    if (this.config.initialCluster.size === 0) {
      throw new FlotillaError('INVALID_CONFIG', 'a new data directory needs --initial-cluster or --join HOST:PORT');
    }
    const file: ClusterFile = { clusterId: this.config.clusterId, brokerId: this.config.id, initialCluster: [...this.config.initialCluster] };
    replaceFileSync(path, JSON.stringify(file));
    return file;
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
    await this.handOverLeadership(3000);
    this.clients.close();
    this.groups.stop();
    this.server.close();
    this.raft.stop();
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    if (this.balanceTimer) clearInterval(this.balanceTimer);
    if (this.moveTimer) clearInterval(this.moveTimer);
    if (this.statsTimer) clearInterval(this.statsTimer);
    const stopping = new FlotillaError('SHUTTING_DOWN', 'the broker is shutting down; retry at another broker');
    this.replicas.closeAll(stopping);
    this.controller.close(stopping);
    this.transport.close();
    await this.scrubber.stop();
    await this.logs.close();
    this.hardStates.close();
    this.logger.info('broker stopped');
  }

  private async handOverLeadership(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const led = () => [...this.raft.all()].filter((g) => g.node.currentRole === 'leader' && g.node.status().membership.voters.length > 1);
    for (const group of led()) {
      const status = group.node.status();
      const target = Object.entries(status.progress)
        .filter(([id, p]) => status.membership.voters.includes(Number(id)) && p.recentActive)
        .sort(([, a], [, b]) => b.match - a.match)[0];
      if (!target) continue;
      try {
        this.raft.withNode(group, (node) => node.transferLeadership(Number(target[0])));
      } catch {
        // Not caught up: that group's followers elect a new leader after the timeout instead.
      }
    }
    while (led().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
}

type MoveStep =
  | { kind: 'change'; change: ConfigChange }
  | { kind: 'handOver'; to: number }
  | { kind: 'wait' }
  | { kind: 'done' };

/**
 * One membership change at a time towards `target`: add the new replicas as learners,
 * promote each once it holds everything committed, then remove the old replicas (handing
 * leadership to a caught-up target first if the leader itself leaves).
 */
export function nextMoveStep(status: Status, target: number[], self: number): MoveStep {
  const { voters, learners } = status.membership;
  const caughtUp = (id: number) => (status.progress[id]?.match ?? -1) >= status.commit;
  const missing = target.find((id) => !voters.includes(id) && !learners.includes(id));
  if (missing !== undefined) return { kind: 'change', change: { type: 'addLearner', id: missing } };
  const ready = learners.find((id) => target.includes(id) && caughtUp(id));
  if (ready !== undefined) return { kind: 'change', change: { type: 'promote', id: ready } };
  if (learners.some((id) => target.includes(id))) return { kind: 'wait' };
  const strayLearner = learners.find((id) => !target.includes(id));
  if (strayLearner !== undefined) return { kind: 'change', change: { type: 'remove', id: strayLearner } };
  const leaving = voters.find((id) => !target.includes(id));
  if (leaving === self) {
    const successor = target.find((id) => id !== self && caughtUp(id) && status.progress[id]?.recentActive);
    return successor === undefined ? { kind: 'wait' } : { kind: 'handOver', to: successor };
  }
  if (leaving !== undefined) return { kind: 'change', change: { type: 'remove', id: leaving } };
  return { kind: 'done' };
}

/**
 * `--join`: registers this broker through any member (followed to the controller), and
 * records what the cluster answered in the data directory, which from then on wins.
 */
async function joinCluster(config: BrokerConfig, logger: Logger): Promise<void> {
  logger.info({ via: config.join }, 'joining the cluster');
  const response = await controllerRequest([config.join!], { registerBroker: { brokerId: config.id, address: config.advertise } }, 60_000);
  const answer = response.registerBroker!;
  const file: ClusterFile = {
    clusterId: answer.clusterId,
    brokerId: config.id,
    initialCluster: answer.brokers.map((b) => [b.id, b.address]),
    controllerVoters: [...answer.controllerVoters],
  };
  mkdirSync(config.dataDir, { recursive: true });
  replaceFileSync(join(config.dataDir, CLUSTER_FILE), JSON.stringify(file));
  logger.info({ clusterId: answer.clusterId, controller: answer.controllerId }, 'joined the cluster');
}

export async function startBroker(config: BrokerConfig, logger?: Logger): Promise<Broker> {
  const log = logger ?? pino({ level: config.logLevel, base: { broker: config.id } });
  if (config.join && !existsSync(join(config.dataDir, CLUSTER_FILE))) await joinCluster(config, log);
  const broker = new Broker(config, log);
  await broker.start();
  return broker;
}
