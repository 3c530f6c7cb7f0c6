/**
 * The `flotilla` executable: broker and admin commands (SPEC section 2).
 *
 * Exit status: 0 success, 1 an error (one line on stderr: `error: CODE: message`),
 * 2 usage. Global options (--brokers, --json, --timeout-ms, --help) are accepted before or
 * after the subcommand.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { validateTopicConfig } from '../../protocol/topics.js';
import { registerBenchCommand } from './bench-command.js';
import { registerSecurityCommands } from './security-commands.js';
import { SCRAM_MECHANISMS } from '../../protocol/scram.js';
import { action, CLI_REQUEST_TIMEOUT_MS, DEV_BASE_PORT, defaultBrokers, errorLine, Exit, globalsOf, printJsonOrTable, showProgress, UsageError, withClient, writeOut } from './context.js';
import { FlotillaError } from '../../protocol/errors.js';
import { clusterOf } from '../client.js';
import { BROKER_DEFAULTS } from '../../broker/config.js';
import {
  bytesText,
  durationText,
  formatTable,
  parseAcks,
  parseIdList,
  parseLimit,
  parseNonNegativeInt,
  OFFSET_HELP,
  parseOffset,
  type StartOffset,
  parsePositiveInt,
  parseReadFrom,
} from './format.js';

/**
 * A new cluster may still be electing leaders: creating, deleting or altering a topic may
 * take a while, and requests that time out are retried (safely: see README) until then.
 */
const TOPIC_CHANGE_TIMEOUT_MS = 60_000;


/** How long `cluster health --wait` waits without --timeout-ms: a broker's restart and catch-up. */
const HEALTH_WAIT_MS = 5 * 60_000;

/** `flotilla dev` without --brokers. */
const DEV_BROKERS = 3;

export function buildProgram(scriptPath: string): Command {
  const program = new Command('flotilla');
  program
    .description('Flotilla: a partitioned, replicated message broker (one Raft group per partition)')
    .addOption(new Option('--brokers <list>', 'brokers to talk to, HOST:PORT[,HOST:PORT...] (env FLOTILLA_BROKERS)').default(defaultBrokers()))
    .option('--json', 'print JSON instead of a table')
    .addOption(
      new Option('--timeout-ms <n>', 'how long each request waits for its answer; topic create, delete and alter retry a request that timed out (safely) for up to 60 s')
        .default(CLI_REQUEST_TIMEOUT_MS)
        .argParser(parsePositiveInt),
    )
    .option('--tls', 'connect to the brokers with TLS (implied by the other --tls options and FLOTILLA_TLS_CA)')
    .option('--tls-ca <file>', "PEM CA certificates that sign the brokers' certificates (env FLOTILLA_TLS_CA; default: the system's)")
    .option('--tls-cert <file>', 'PEM client certificate, for brokers that ask for one (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--user <name>', 'authenticate as this user (env FLOTILLA_USER)')
    .option('--password-file <file>', "the user's password: the file's text less its final newline (env FLOTILLA_PASSWORD; never on the command line)")
    .addOption(new Option('--sasl-mechanism <mechanism>', 'how --user authenticates').choices(SCRAM_MECHANISMS).default('scram-sha-256'))
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false });

  // ----------------------------------------------------------------------------- dev
  program
    .command('dev')
    .description('start a local cluster of N broker processes on 127.0.0.1 (Ctrl-C stops them); --secure for TLS, SCRAM and a superuser')
    .addHelpText('after', `\n  --brokers N      number of brokers (default ${DEV_BROKERS})`)
    .option('--data <dir>', 'data directory; broker N uses DIR/N', './data/dev')
    .option('--base-port <port>', 'port of broker 1; broker N listens on base-port + N - 1, and speaks Kafka on base-port + 1691 + N - 1 (9092 for broker 1 by default)', parsePositiveInt, DEV_BASE_PORT)
    .option('--log-level <level>', 'broker log level', 'warn')
    .option('--fsync <mode>', 'always, batch or never')
    .option('--secure', 'TLS on every connection (certificates made with openssl under DIR/certs), SCRAM authentication and a superuser whose password is in DIR/admin.password; a restart on the same DIR reuses both')
    .action(
      action(async (options: { data: string; basePort: number; logLevel: string; fsync?: string; secure?: boolean }, command: Command) => {
        // `dev --brokers N` shares its flag with the global --brokers: here it is a count.
        const raw = command.optsWithGlobals<{ brokers: string }>().brokers;
        const fromCommandLine = program.getOptionValueSource('brokers') === 'cli';
        let count = DEV_BROKERS;
        if (fromCommandLine) {
          if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 99) throw new UsageError(`dev --brokers takes a number of brokers (1-99), got "${raw}"`);
          count = Number(raw);
        }
        const { devCommand, devKafkaAddress } = await import('./dev.js');
        if (Number(devKafkaAddress(count, options).split(':')[1]) > 65535) {
          throw new UsageError(`dev --base-port ${options.basePort} leaves no room for the Kafka listeners (base port + 1691 + N - 1); pick a lower one`);
        }
        const devOptions: Parameters<typeof devCommand>[0] = { brokers: count, data: options.data, basePort: options.basePort, logLevel: options.logLevel };
        if (options.fsync !== undefined) devOptions.fsync = options.fsync;
        if (options.secure) devOptions.secure = true;
        return devCommand(devOptions, scriptPath);
      }),
    );

  // -------------------------------------------------------------------------- broker
  const broker = program.command('broker').description('run a broker');
  broker
    .command('start')
    .description('start a broker in the foreground (SIGINT/SIGTERM stop it cleanly)')
    .requiredOption('--id <n>', 'broker id, a positive integer', parsePositiveInt)
    .requiredOption('--listen <host:port>', 'address to listen on')
    .requiredOption('--data <dir>', 'data directory')
    .option('--initial-cluster <list>', 'form a new cluster: 1=HOST:PORT,2=HOST:PORT,...')
    .option('--join <host:port>', 'join an existing cluster through any member')
    .option('--advertise <host:port>', 'address clients and peers use (default: --listen)')
    .option('--kafka-listen <host:port>', 'also speak the Kafka protocol on this address')
    .option('--kafka-advertise <host:port>', 'address Kafka clients use (default: --kafka-listen)')
    .option('--rack <name>', 'the rack or zone this broker stands in: Kafka consumers with the same client.rack fetch from it (follower fetching)')
    .option('--fsync <mode>', 'always, batch or never')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .option('--max-frame-bytes <n>', `largest frame accepted (default ${bytesText(BROKER_DEFAULTS.maxFrameBytes)})`, parsePositiveInt)
    .option('--max-connections <n>', `most client connections (default ${BROKER_DEFAULTS.maxConnections})`, parsePositiveInt)
    .option('--max-peer-connections <n>', `most inbound connections from other brokers, counted apart from --max-connections (default ${BROKER_DEFAULTS.maxPeerConnections})`, parsePositiveInt)
    .option('--max-connection-pending-bytes <n>', `response bytes one client connection may hold (read or unsent) before the broker stops reading it (default ${BROKER_DEFAULTS.maxConnectionPendingBytes})`, parsePositiveInt)
    .option('--max-pending-response-bytes <n>', `response bytes all client connections may hold together; requests wait beyond it (default ${BROKER_DEFAULTS.maxPendingResponseBytes})`, parsePositiveInt)
    .option('--max-open-files <n>', 'most files the storage keeps open (default: ulimit -n less a reserve for sockets; a larger value is lowered to that)', parsePositiveInt)
    .option('--idle-timeout-ms <n>', `close a connection idle this long (default ${durationText(BROKER_DEFAULTS.idleTimeoutMs)})`, parsePositiveInt)
    .option('--frame-timeout-ms <n>', `time to finish a frame once begun (default ${durationText(BROKER_DEFAULTS.frameTimeoutMs)})`, parsePositiveInt)
    .option('--write-timeout-ms <n>', `close a client connection that takes none of its responses this long: it stopped reading (default ${durationText(BROKER_DEFAULTS.writeTimeoutMs)})`, parsePositiveInt)
    .option('--stats-interval-ms <n>', 'log one line of broker statistics this often (default off)', parsePositiveInt)
    .option('--controller-snapshot-entries <n>', `compact the metadata log after this many new entries (default ${BROKER_DEFAULTS.controllerSnapshotEntries})`, parsePositiveInt)
    .option('--metadata-segment-bytes <n>', `segment size of the metadata log (default ${BROKER_DEFAULTS.metadataSegmentBytes}); compaction frees whole segments and the scrubber checks sealed ones`, parsePositiveInt)
    .option('--recovery-concurrency <n>', `partitions this broker catches up one lagging broker with at once; the rest wait their turn (default ${BROKER_DEFAULTS.recoveryConcurrency}, 0 = no limit)`, parseNonNegativeInt)
    .option('--tls-cert <file>', 'PEM certificate: TLS on the port for clients and peers (with --tls-key); reloaded on SIGHUP and when the file changes')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-ca <file>', "PEM CA certificates trusted for peers' and clients' certificates (default: the system's)")
    .addOption(new Option('--tls-client-auth <mode>', 'client certificates: none, request (verified when shown; its CN is the principal) or require').choices(['none', 'request', 'require']))
    .option('--tls-allow-plaintext', 'also accept plaintext connections, and dial peers without TLS in plaintext (for migrating a running cluster)')
    .option('--scrub-bytes-per-sec <n>', `read rate of the background check of sealed segments for bit rot (default ${BROKER_DEFAULTS.scrubBytesPerSec}, 8 MiB/s: about 675 GiB a day, a full disk of that size in about a day; 0 = off)`, parseNonNegativeInt)
    .option('--scrub-interval-ms <n>', `a scrub pass starts at most this often, so that a small data set is not re-read many times a minute (default ${durationText(BROKER_DEFAULTS.scrubIntervalMs)})`, parsePositiveInt)
    .option('--log-cache-bytes <n>', `memory for the newest batches of all partitions, which replication, commits and consumers at the end read without the disk (default ${BROKER_DEFAULTS.logCacheBytes}, 64 MiB; 0 = read everything from disk)`, parseNonNegativeInt)
    .option('--http-listen <host:port>', 'serve the operations endpoints here: /metrics, /livez, /readyz, /v1/cluster/health (default off)')
    .option('--metrics-detail <level>', 'label data metrics per topic, or per topic and partition (series then grow with partitions)', 'topic')
    .option('--authn <mode>', 'how clients authenticate: none, scram or mtls (default none); anything but none turns ACLs on')
    .option('--superusers <names>', 'NAME[,NAME...]: users that bypass ACLs; required with --authn (env FLOTILLA_BOOTSTRAP_USER=NAME:PASSWORD creates one when a new cluster forms)')
    .action(
      action(async (options, command: Command) => {
        const { brokerStartCommand } = await import('./broker-command.js');
        // --tls-cert, --tls-key and --tls-ca share their names with the global (client) options,
        // which commander fills wherever they appear: here they are the broker's own.
        const { tlsCert, tlsKey, tlsCa } = command.optsWithGlobals<{ tlsCert?: string; tlsKey?: string; tlsCa?: string }>();
        return brokerStartCommand({ ...options, tlsCert, tlsKey, tlsCa });
      }),
    );

  // ------------------------------------------------------------------------- cluster
  const cluster = program.command('cluster').description('cluster status and membership');
  cluster
    .command('status')
    .description('brokers, controller leader, leaders per broker, health')
    .action(
      action(async (_options, command: Command) => {
        const globals = globalsOf(command);
        const status = await withClient(globals, (client) => client.admin().describeCluster());
        await printJsonOrTable(globals, status, () =>
          [
            `controller: ${status.controller ?? 'none (election in progress)'}`,
            formatTable(['ID', 'ADDRESS', 'ALIVE', 'LEADERS'], status.brokers.map((b) => [b.id, b.address, b.alive ? 'yes' : 'no', b.leaders])),
          ].join('\n'),
        );
      }),
    );
  cluster
    .command('health')
    .description('brokers down, leaderless and under-replicated partitions; exit 0 when healthy, 1 when not')
    .option('--wait', 'wait until healthy, for up to --timeout-ms (default 5 minutes with --wait)')
    .action(
      action(async (options: { wait?: boolean }, command: Command) => {
        const globals = globalsOf(command);
        const timeoutGiven = program.getOptionValueSource('timeoutMs') === 'cli';
        const { clusterHealthCommand } = await import('./cluster-health.js');
        return clusterHealthCommand(globals, { wait: Boolean(options.wait), waitMs: timeoutGiven ? globals.timeoutMs : HEALTH_WAIT_MS });
      }),
    );
  cluster
    .command('remove-broker')
    .description('move its replicas away, then remove the broker')
    .argument('<id>', 'broker id', parsePositiveInt)
    .action(
      action(async (id: number, _options, command: Command) => {
        await withClient(globalsOf(command), async (client) => {
          // The controller moves the broker's replicas away first; it answers TIMEOUT while
          // moves are still running, and each call resumes the wait.
          const started = Date.now();
          for (;;) {
            try {
              await client.admin().removeBroker(id);
              break;
            } catch (error) {
              if (!(error instanceof FlotillaError) || error.code !== 'TIMEOUT' || Date.now() - started > 30 * 60_000) throw error;
              if (showProgress()) process.stderr.write(`\rremoving broker ${id}: moving its replicas away (${Math.round((Date.now() - started) / 1000)} s)`);
            }
          }
          if (showProgress()) process.stderr.write('\n');
        });
        process.stderr.write(`broker ${id} removed: it holds no replicas and is out of the metadata; it can be stopped\n`);
      }),
    );
  cluster
    .command('balance-leaders')
    .description('spread partition leadership evenly')
    .action(
      action(async (_options, command: Command) => {
        const transfers = await withClient(globalsOf(command), (client) => client.admin().balanceLeaders());
        process.stderr.write(`${transfers} leadership transfers started\n`);
      }),
    );

  // --------------------------------------------------------------------------- topic
  const topic = program.command('topic').description('create, list, describe, delete and alter topics');
  topic
    .command('create')
    .description('create a topic; returns once every partition has a leader')
    .argument('<name>')
    .option('--partitions <n>', 'number of partitions', parsePositiveInt, 1)
    .option('--replication <n>', 'replicas per partition (default 3, or fewer brokers)', parsePositiveInt)
    .option('--retention-ms <n>', 'delete segments older than this (-1: keep forever)', parseLimit)
    .option('--retention-bytes <n>', 'keep at most this many bytes per partition (-1: no limit)', parseLimit)
    .option('--segment-bytes <n>', 'roll segment files at this size', parsePositiveInt)
    .action(
      action(async (name: string, options, command: Command) => {
        const config = validateTopicConfig({ retentionMs: options.retentionMs, retentionBytes: options.retentionBytes, segmentBytes: options.segmentBytes });
        await withClient(globalsOf(command), (client) =>
          client.admin().createTopic({ topic: name, partitions: options.partitions, replicationFactor: options.replication, config, timeoutMs: TOPIC_CHANGE_TIMEOUT_MS }),
        );
        process.stderr.write(`created topic ${name} with ${options.partitions} partition${options.partitions === 1 ? '' : 's'}\n`);
      }),
    );
  topic
    .command('list')
    .description('list topic names')
    .action(
      action(async (_options, command: Command) => {
        const globals = globalsOf(command);
        const topics = await withClient(globals, (client) => client.admin().listTopics());
        await writeOut(globals.json ? `${JSON.stringify(topics)}\n` : topics.map((t) => `${t}\n`).join(''));
      }),
    );
  topic
    .command('describe')
    .description('partitions, leaders, replicas, in-sync replicas and offsets of a topic')
    .argument('<name>')
    .action(
      action(async (name: string, _options, command: Command) => {
        const globals = globalsOf(command);
        const d = await withClient(globals, (client) => client.admin().describeTopic(name));
        await printJsonOrTable(globals, { topic: d.topic, partitions: d.partitions }, () =>
          [
            `topic: ${d.topic}`,
            formatTable(
              ['PARTITION', 'LEADER', 'REPLICAS', 'IN-SYNC', 'HIGH-WATERMARK', 'LOG-START', 'MOVING-FROM'],
              d.partitions.map((p) => [p.partition, p.leader, p.replicas.join(','), p.inSync.join(','), p.highWatermark, p.logStartOffset, p.movingFrom?.join(',') ?? '']),
            ),
          ].join('\n'),
        );
      }),
    );
  topic
    .command('delete')
    .description('delete a topic and its data')
    .argument('<name>')
    .action(
      action(async (name: string, _options, command: Command) => {
        await withClient(globalsOf(command), (client) => client.admin().deleteTopic(name, TOPIC_CHANGE_TIMEOUT_MS));
        process.stderr.write(`deleted topic ${name}\n`);
      }),
    );
  topic
    .command('alter')
    .description('change topic configuration')
    .argument('<name>')
    .option('--retention-ms <n>', 'delete segments older than this (-1: keep forever)', parseLimit)
    .option('--retention-bytes <n>', 'keep at most this many bytes per partition (-1: no limit)', parseLimit)
    .option('--segment-bytes <n>', 'roll segment files at this size', parsePositiveInt)
    .action(
      action(async (name: string, options, command: Command) => {
        const config = { retentionMs: options.retentionMs, retentionBytes: options.retentionBytes, segmentBytes: options.segmentBytes };
        if (Object.values(config).every((v) => v === undefined)) throw new UsageError('topic alter needs at least one of --retention-ms, --retention-bytes, --segment-bytes');
        await withClient(globalsOf(command), (client) => client.admin().alterTopic(name, config, TOPIC_CHANGE_TIMEOUT_MS));
        process.stderr.write(`altered topic ${name}\n`);
      }),
    );

  // ----------------------------------------------------------------------- partition
  const partition = program.command('partition').description('move partitions and their leadership');
  partition
    .command('move')
    .description('move a partition to a new set of replicas')
    .argument('<topic>')
    .argument('<partition>', 'partition number', parseNonNegativeInt)
    .requiredOption('--replicas <ids>', 'broker ids, the first the preferred leader: 1,2,4', parseIdList)
    .action(
      action(async (name: string, p: number, options: { replicas: number[] }, command: Command) => {
        await withClient(globalsOf(command), async (client) => {
          const admin = client.admin();
          await admin.movePartition(name, p, options.replicas);
          const started = Date.now();
          const wanted = [...options.replicas].sort((a, b) => a - b).join(',');
          // Done once the metadata says the move finished (the group's voters are the new
          // replicas) and all of them are in sync.
          for (;;) {
            const partition = (await admin.describeTopic(name)).partitions[p];
            const replicas = [...(partition?.replicas ?? [])].sort((a, b) => a - b).join(',');
            const inSync = [...(partition?.inSync ?? [])].sort((a, b) => a - b).join(',');
            if (replicas === wanted && inSync === wanted && !partition?.movingFrom) break;
            if (Date.now() - started > 30 * 60_000) throw new FlotillaError('TIMEOUT', `${name}/${p} is still moving after 30 minutes; check \`flotilla topic describe ${name}\``);
            if (showProgress()) process.stderr.write(`\rmoving ${name}/${p} to ${options.replicas.join(',')}: in sync ${inSync || 'none'} (${Math.round((Date.now() - started) / 1000)} s)`);
            await new Promise((r) => setTimeout(r, 250));
          }
          if (showProgress()) process.stderr.write('\n');
        });
        process.stderr.write(`moved ${name}/${p} to ${options.replicas.join(',')}\n`);
      }),
    );
  partition
    .command('transfer-leader')
    .description("hand a partition's leadership to another replica")
    .argument('<topic>')
    .argument('<partition>', 'partition number', parseNonNegativeInt)
    .requiredOption('--to <id>', 'broker id of the new leader', parsePositiveInt)
    .action(
      action(async (name: string, p: number, options: { to: number }, command: Command) => {
        await withClient(globalsOf(command), (client) => client.admin().transferLeader(name, p, options.to));
        process.stderr.write(`leadership of ${name}/${p} transferring to broker ${options.to}\n`);
      }),
    );

  // ------------------------------------------------------------------------- produce
  program
    .command('produce')
    .description('send one record per stdin line')
    .argument('<topic>')
    .option('--key <key>', 'key of every record')
    .option('--key-separator <sep>', 'split each line at the first SEP into key and value')
    .option('--partition <p>', 'send every record to this partition', parseNonNegativeInt)
    .addOption(new Option('--acks <acks>', 'all, leader or none').default('all').argParser(parseAcks))
    .option('--idempotent', 'retries never create duplicates (the default with --acks all)')
    .option('--no-idempotent', 'plain producer: a retry may store a batch twice')
    .action(
      action(async (name: string, options, command: Command) => {
        const { produceCommand } = await import('./produce.js');
        return produceCommand(name, options, globalsOf(command));
      }),
    );

  // ------------------------------------------------------------------------- consume
  program
    .command('consume')
    .description('print records, one per line')
    .argument('<topic>')
    .option('--partition <p>', 'read one partition (default: all, --count is then the total)', parseNonNegativeInt)
    .option('--offset <offset>', OFFSET_HELP, parseOffset, 'earliest')
    .option('--group <group>', 'read as a member of this consumer group (commits on exit and periodically)')
    .option('--count <n>', 'stop after N records', parseNonNegativeInt)
    .option('--follow', 'keep waiting for new records at the end of the log', false)
    .addOption(new Option('--format <format>', 'text (the value) or json (one object per line)').choices(['text', 'json']).default('text'))
    .option('--read-from <from>', 'any, leader, or a broker id', parseReadFrom, 'any')
    .option('--binary', 'print key and value as base64', false)
    .action(
      action(async (name: string, options, command: Command) => {
        if (options.group !== undefined) {
          const { consumeGroupCommand } = await import('./consume-group.js');
          return consumeGroupCommand(name, options, globalsOf(command));
        }
        const { consumeCommand } = await import('./consume.js');
        return consumeCommand(name, options, globalsOf(command));
      }),
    );

  // --------------------------------------------------------------------------- group
  const group = program.command('group').description('consumer groups');
  group
    .command('list')
    .description('list consumer groups')
    .action(
      action(async (_options, command: Command) => {
        const globals = globalsOf(command);
        const groups = await withClient(globals, (client) => client.admin().listGroups());
        await printJsonOrTable(globals, groups, () => formatTable(['GROUP', 'STATE', 'MEMBERS'], groups.map((g) => [g.groupId, g.state, g.members])));
      }),
    );
  group
    .command('describe')
    .description('members, assignments and committed offsets of a group')
    .argument('<group>')
    .action(
      action(async (id: string, _options, command: Command) => {
        const globals = globalsOf(command);
        const g = await withClient(globals, async (client) => {
          const described = await client.admin().describeGroup(id);
          // Lag: the log end (high watermark) minus the committed offset, asked of each leader.
          const offsets = await Promise.all(
            described.offsets.map(async (o) => {
              const end = await clusterOf(client)
                .leaderRequest({ type: 'listOffsets', topic: o.topic, partition: o.partition, target: 'latest' })
                .then(({ result }) => result.offset)
                .catch(() => null);
              return { ...o, end, lag: end === null ? null : Math.max(0, end - o.offset) };
            }),
          );
          return { ...described, offsets };
        });
        await printJsonOrTable(globals, g, () =>
          [
            `group: ${g.groupId}  state: ${g.state}  generation: ${g.generation}`,
            formatTable(['MEMBER', 'CLIENT', 'ADDRESS', 'ASSIGNMENT'], g.members.map((m) => [m.memberId, m.clientId, m.clientAddress, m.assignment.map((a) => `${a.topic}:${a.partitions.join(',')}`).join(' ')])),
            formatTable(['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG'], g.offsets.map((o) => [o.topic, o.partition, o.offset, o.end ?? '-', o.lag ?? '-'])),
          ].join('\n'),
        );
      }),
    );
  group
    .command('reset-offsets')
    .description("set a group's committed offsets (the group must have no members)")
    .argument('<group>')
    .requiredOption('--topic <topic>', 'topic whose offsets to reset')
    .requiredOption('--to <to>', `${OFFSET_HELP} (per partition; the end where no record is that late)`, parseOffset)
    .action(
      action(async (id: string, options: { topic: string; to: StartOffset }, command: Command) => {
        const globals = globalsOf(command);
        const offsets = await withClient(globals, (client) => client.admin().resetOffsets(id, options.topic, options.to));
        await printJsonOrTable(globals, offsets, () => formatTable(['TOPIC', 'PARTITION', 'OFFSET'], offsets.map((o) => [o.topic, o.partition, o.offset])));
      }),
    );

  // ------------------------------------------------------------------ user and acl
  registerSecurityCommands(program);

  // --------------------------------------------------------------------------- bench
  registerBenchCommand(program);

  return program;
}

/** Runs the CLI with argv (without node and script), resolving with the exit status. */
export async function main(argv: string[], scriptPath: string): Promise<number> {
  const program = buildProgram(scriptPath);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : Exit.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successes; every other commander error is a usage error
      // whose message commander already printed.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? Exit.OK : Exit.USAGE;
    }
    if (err instanceof UsageError || err instanceof InvalidArgumentError) {
      process.stderr.write(`error: ${err.message}\n`);
      return Exit.USAGE;
    }
    process.stderr.write(`${errorLine(err)}\n`);
    return Exit.ERROR;
  }
}
