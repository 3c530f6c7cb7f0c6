/**
 * The nemeses and their schedule. A run is a sequence of phases; each phase lets one
 * nemesis loose for a fault window, then heals everything (links, paused and killed
 * brokers) and waits, bounded, for the cluster to acknowledge again. One nemesis per
 * phase keeps every anomaly attributable to the fault that caused it.
 *
 * Network nemeses cut links silently (see test/integration/netns.ts); the test process, outside every
 * namespace, still reaches every broker, so clients see what a real client would: a
 * broker that answers but cannot reach its peers, or one that does not answer at all.
 */
import type { Client } from '../../client/index.js';
import type { ProcessCluster } from '../integration/cluster.js';
import type { Rng } from '../sim/prng.js';
import type { Network } from '../integration/netns.js';

export interface NemesisContext {
  cluster: ProcessCluster;
  net: Network;
  client: Client;
  topic: string;
  partitions: number;
  rng: Rng;
  /** Records what the nemesis did in the history. */
  note(action: string, detail: unknown): void;
}

export interface Nemesis {
  name: string;
  help: string;
  /** Inflicts the fault and keeps it up (or repeats it) for `faultMs`; healing is the caller's. */
  run(ctx: NemesisContext, faultMs: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The leader of a random partition, as the metadata says; a random broker if it cannot
 * tell within a few seconds (the faults start from a healed cluster, so that is rare).
 */
async function someLeader(ctx: NemesisContext): Promise<number> {
  const ids = [...ctx.cluster.brokers.keys()];
  const partition = ctx.rng.int(ctx.partitions);
  const leader = await Promise.race([
    ctx.client.admin().describeTopic(ctx.topic).then((d) => d.partitions.find((p) => p.partition === partition)?.leader ?? null, () => null),
    sleep(5_000).then(() => null),
  ]);
  return leader && ids.includes(leader) ? leader : ctx.rng.pick(ids);
}

function shuffled<T>(rng: Rng, items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Splits the brokers into a majority and a minority half, with `leader` on the chosen side. */
function halves(ctx: NemesisContext, leader: number, leaderSide: 'majority' | 'minority'): { majority: number[]; minority: number[] } {
  const all = [...ctx.cluster.brokers.keys()];
  const others = shuffled(ctx.rng, all.filter((id) => id !== leader));
  // The largest minority that still leaves the rest a strict majority.
  const minoritySize = Math.floor((all.length - 1) / 2);
  if (leaderSide === 'minority') return { minority: [leader, ...others.slice(0, minoritySize - 1)], majority: others.slice(minoritySize - 1) };
  return { minority: others.slice(0, minoritySize), majority: [leader, ...others.slice(minoritySize)] };
}

async function split(ctx: NemesisContext, faultMs: number, leaderSide: 'majority' | 'minority'): Promise<void> {
  const leader = await someLeader(ctx);
  const sides = halves(ctx, leader, leaderSide);
  await ctx.net.split(sides.majority, sides.minority);
  ctx.note('split', { leader, ...sides });
  await sleep(faultMs);
}

/** Kills or pauses one broker at a time (a leader half the time), brings it back, again until the window ends. */
async function processFaults(ctx: NemesisContext, faultMs: number, kind: 'kill' | 'pause'): Promise<void> {
  const end = Date.now() + faultMs;
  while (Date.now() < end - 1_000) {
    const ids = [...ctx.cluster.brokers.keys()];
    const target = ctx.rng.chance(0.5) ? await someLeader(ctx) : ctx.rng.pick(ids);
    const downMs = Math.min(ctx.rng.range(2_000, 6_000), Math.max(500, end - Date.now()));
    if (kind === 'kill') {
      await ctx.cluster.kill(target);
      ctx.note('kill -9', { broker: target, downMs });
      await sleep(downMs);
      ctx.cluster.restart(target);
      ctx.note('restart', { broker: target });
    } else {
      ctx.cluster.pause(target);
      ctx.note('SIGSTOP', { broker: target, downMs });
      await sleep(downMs);
      ctx.cluster.resume(target);
      ctx.note('SIGCONT', { broker: target });
    }
    await sleep(Math.min(ctx.rng.range(1_000, 3_000), Math.max(0, end - Date.now())));
  }
}

/** Waits, within the window, for the move of the partition to `replicas` to finish; false if it did not. */
async function moveDone(ctx: NemesisContext, partition: number, replicas: number[], untilMs: number): Promise<boolean> {
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((id) => b.includes(id));
  while (Date.now() < untilMs) {
    const p = await ctx.client.admin().describeTopic(ctx.topic).then((d) => d.partitions.find((x) => x.partition === partition), () => undefined);
    if (p && same(p.replicas, replicas) && !p.movingFrom) return true;
    await sleep(200);
  }
  return false;
}

/**
 * A partition moves off a broker while that broker is down (one of the others takes its
 * place, or, with no broker to spare, the partition keeps one replica fewer) and metadata
 * changes pile up meanwhile, so that the broker may learn the move from a metadata snapshot
 * on its return; then the partition moves straight back onto it.
 */
async function moveAwayAndBack(ctx: NemesisContext, faultMs: number): Promise<void> {
  const end = Date.now() + faultMs;
  const admin = ctx.client.admin();
  const partition = ctx.rng.int(ctx.partitions);
  const before = (await admin.describeTopic(ctx.topic)).partitions.find((p) => p.partition === partition)!.replicas;
  const leaving = ctx.rng.pick(before);
  const spare = [...ctx.cluster.brokers.keys()].filter((id) => !before.includes(id));
  const away = spare.length > 0 ? before.map((id) => (id === leaving ? ctx.rng.pick(spare) : id)) : before.filter((id) => id !== leaving);
  await ctx.cluster.kill(leaving);
  ctx.note('kill -9', { broker: leaving });
  const attempt = async (what: string, replicas: number[]) => {
    try {
      await admin.movePartition(ctx.topic, partition, replicas);
    } catch (error) {
      ctx.note(`${what} refused`, { partition, replicas, error: String(error) });
      return false;
    }
    const done = await moveDone(ctx, partition, replicas, end);
    ctx.note(done ? what : `${what} not done in the window`, { partition, replicas });
    return done;
  };
  const movedAway = await attempt('move away', away);
  // Each is a metadata entry: past the controller's snapshot interval, the log is compacted beyond what the broker holds.
  for (let i = 0; i < METADATA_CHANGES_WHILE_DOWN && Date.now() < end; i++) {
    await admin.alterTopic(ctx.topic, { retentionMs: RETENTION_MS + i }).catch((error: unknown) => ctx.note('metadata change refused', String(error)));
  }
  ctx.cluster.restart(leaving);
  ctx.note('restart', { broker: leaving });
  if (movedAway) await attempt('move back', before);
  await sleep(Math.max(0, end - Date.now()));
}

/** Metadata entries the move nemesis makes while a broker is down (the chaos cluster compacts every 20). */
const METADATA_CHANGES_WHILE_DOWN = 30;
/** A week: the topic keeps every record of a run whatever the nemesis sets. */
const RETENTION_MS = 7 * 24 * 3_600_000;

export const NEMESES: Nemesis[] = [
  {
    name: 'majority',
    help: 'brokers split into two halves; a partition leader stays with the majority',
    run: (ctx, faultMs) => split(ctx, faultMs, 'majority'),
  },
  {
    name: 'minority',
    help: 'brokers split into two halves; a partition leader is cut off with the minority',
    run: (ctx, faultMs) => split(ctx, faultMs, 'minority'),
  },
  {
    name: 'leader-isolated',
    help: 'a partition leader cut off from every peer, while clients still reach it',
    async run(ctx, faultMs) {
      const leader = await someLeader(ctx);
      const peers = [...ctx.cluster.brokers.keys()].filter((id) => id !== leader);
      await ctx.net.split([leader], peers);
      ctx.note('isolate', { leader, peers });
      await sleep(faultMs);
    },
  },
  {
    name: 'bridge',
    help: 'two halves that cannot see each other, joined by one broker that sees both',
    async run(ctx, faultMs) {
      const [bridge, ...rest] = shuffled(ctx.rng, [...ctx.cluster.brokers.keys()]);
      const a = rest.slice(0, Math.ceil(rest.length / 2));
      const b = rest.slice(a.length);
      await ctx.net.split(a, b);
      ctx.note('bridge', { bridge, a, b });
      await sleep(faultMs);
    },
  },
  {
    name: 'one-way',
    help: "a partition leader's packets to its peers dropped, or theirs to it (one direction only)",
    async run(ctx, faultMs) {
      const leader = await someLeader(ctx);
      const peers = [...ctx.cluster.brokers.keys()].filter((id) => id !== leader);
      const outbound = ctx.rng.chance(0.5);
      await Promise.all(peers.map((peer) => (outbound ? ctx.net.cut(leader, peer) : ctx.net.cut(peer, leader))));
      ctx.note('one-way', { leader, dropped: outbound ? `${leader} -> others` : `others -> ${leader}` });
      await sleep(faultMs);
    },
  },
  {
    name: 'kill',
    help: 'kill -9 of one broker at a time (a leader half the time), restarted a few seconds later',
    run: (ctx, faultMs) => processFaults(ctx, faultMs, 'kill'),
  },
  {
    name: 'move',
    help: 'a partition moved off a broker that is down, metadata compacted past it, then moved straight back onto it',
    run: moveAwayAndBack,
  },
  {
    name: 'pause',
    help: 'SIGSTOP of one broker at a time (a leader half the time), SIGCONT a few seconds later',
    run: (ctx, faultMs) => processFaults(ctx, faultMs, 'pause'),
  },
];

export function nemesisNamed(name: string): Nemesis {
  const nemesis = NEMESES.find((n) => n.name === name);
  if (!nemesis) throw new Error(`unknown nemesis "${name}"; choose from ${NEMESES.map((n) => n.name).join(', ')}`);
  return nemesis;
}

/** Undoes every fault: links healed, paused brokers resumed, killed ones restarted. */
export async function healAll(ctx: NemesisContext): Promise<void> {
  await ctx.net.healAll();
  for (const id of ctx.cluster.brokers.keys()) {
    if (ctx.cluster.running(id)) ctx.cluster.resume(id);
    else ctx.cluster.restart(id);
  }
}

/**
 * The order of the phases: each round runs every chosen nemesis once, shuffled, so that
 * every nemesis gets its turn and they mix; as many rounds as fit the run.
 */
export function* schedule(nemeses: Nemesis[], rng: Rng): Generator<Nemesis> {
  for (;;) yield* shuffled(rng, nemeses);
}
