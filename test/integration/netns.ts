/**
 * Test hosts in network namespaces, for the fault suite and the multi-host test: each
 * broker gets its own namespace with one veth into a bridge in the root namespace, on a
 * private /24 (10.77.K.0/24). The test process stays in the root namespace, where the
 * bridge has 10.77.K.1, so it reaches every broker whatever is cut between brokers.
 *
 * Cuts drop frames silently, one direction at a time: in A's namespace B's address is
 * pinned to a MAC nobody has, so A's packets to B leave and vanish (no RST, no ICMP, no
 * "unreachable" error), as in a real partition. Because TCP needs both directions, a
 * one-way cut still stalls every connection between the two, but only from one side's
 * packets: the other side keeps sending into a void until its timeouts fire.
 *
 * Names carry a per-run tag, so that runs in parallel (test files, engineers) never touch
 * each other's namespaces, links or subnets; destroy() removes exactly what create() made.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The root namespace, where the test process and its clients run, as a host id for cuts. */
export const OUTSIDE = 0;

/** A MAC address no host on the bridge has: frames sent to it are dropped by everyone. */
const NOWHERE = '02:00:00:00:00:99';

async function ip(...args: string[]): Promise<void> {
  try {
    await exec('ip', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`);
  }
}

/**
 * Whether this process may make namespaces: null if yes, else the reason why not (for a
 * one-line skip). Tries the real thing with a throwaway namespace.
 */
export async function namespacesUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `flc-probe-${randomBytes(3).toString('hex')}`;
  try {
    await ip('netns', 'add', probe);
  } catch (error) {
    return `cannot create a network namespace (${(error as Error).message})`;
  }
  await ip('netns', 'del', probe).catch(() => undefined);
  return null;
}

/** A third octet K whose 10.77.K.0/24 no interface of the root namespace uses yet. */
async function freeSubnet(): Promise<number> {
  const { stdout } = await exec('ip', ['-4', '-o', 'addr', 'show']);
  const used = new Set([...stdout.matchAll(/\b10\.77\.(\d+)\./g)].map((m) => Number(m[1])));
  const start = 1 + (randomBytes(1)[0]! % 250);
  for (let i = 0; i < 250; i++) {
    const k = 1 + ((start + i) % 250);
    if (!used.has(k)) return k;
  }
  throw new Error('no free 10.77.K.0/24 subnet left');
}

export class Network {
  /** Directed cuts in force, as "from>to". */
  private readonly cuts = new Set<string>();
  private readonly made: { namespaces: string[]; links: string[] } = { namespaces: [], links: [] };

  private constructor(
    readonly tag: string,
    private readonly subnet: number,
    readonly hosts: number[],
  ) {}

  /** Creates one namespace per host id, all on one new bridge. */
  static async create(hosts: number[]): Promise<Network> {
    const tag = randomBytes(2).toString('hex');
    const net = new Network(tag, await freeSubnet(), hosts);
    try {
      await net.build();
    } catch (error) {
      await net.destroy();
      throw error;
    }
    return net;
  }

  get bridge(): string {
    return `flc${this.tag}br`;
  }

  namespace(host: number): string {
    return `flc-${this.tag}-${host}`;
  }

  /** The host's address on the bridge; ports are the host's own (every namespace has its own). */
  address(host: number): string {
    return `10.77.${this.subnet}.${10 + host}`;
  }

  /** Argv prefix that runs a command inside the host's namespace (exec in place: same pid). */
  prefix(host: number): string[] {
    return ['ip', 'netns', 'exec', this.namespace(host)];
  }

  private async build(): Promise<void> {
    await ip('link', 'add', this.bridge, 'type', 'bridge');
    this.made.links.push(this.bridge);
    await ip('addr', 'add', `10.77.${this.subnet}.1/24`, 'dev', this.bridge);
    await ip('link', 'set', this.bridge, 'up');
    for (const host of this.hosts) {
      const ns = this.namespace(host);
      const veth = `flc${this.tag}v${host}`;
      await ip('netns', 'add', ns);
      this.made.namespaces.push(ns);
      await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      this.made.links.push(veth);
      await ip('link', 'set', veth, 'master', this.bridge, 'up');
      // A broker reaches its own address through lo: without it up, it cannot talk to itself.
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      await ip('-n', ns, 'addr', 'add', `${this.address(host)}/24`, 'dev', 'eth0');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    }
  }

  /** Silently drops every packet `from` sends to `to` (one direction; OUTSIDE: the root namespace). */
  async cut(from: number, to: number): Promise<void> {
    await ip(...this.neighbour(from, to, 'replace'), 'lladdr', NOWHERE, 'nud', 'permanent');
    this.cuts.add(`${from}>${to}`);
  }

  /** `ip` arguments for host `from`'s neighbour entry of host `to`. */
  private neighbour(from: number, to: number, verb: 'replace' | 'del'): string[] {
    const target = to === OUTSIDE ? `10.77.${this.subnet}.1` : this.address(to);
    return from === OUTSIDE ? ['neigh', verb, target, 'dev', this.bridge] : ['-n', this.namespace(from), 'neigh', verb, target, 'dev', 'eth0'];
  }

  /** Cuts both directions between every host of `a` and every host of `b`. */
  async split(a: number[], b: number[]): Promise<void> {
    const ops: Array<Promise<void>> = [];
    for (const x of a) for (const y of b) ops.push(this.cut(x, y), this.cut(y, x));
    await Promise.all(ops);
  }

  /** Removes every cut: the neighbours are resolved again by ARP. */
  async healAll(): Promise<void> {
    await Promise.all([...this.cuts].map(async (cut) => {
      const [from, to] = cut.split('>').map(Number) as [number, number];
      // "No such file" means the entry is gone already (the namespace was rebuilt, say).
      await ip(...this.neighbour(from, to, 'del')).catch(() => undefined);
      this.cuts.delete(cut);
    }));
  }

  /** The cuts in force, for the history. */
  get cutList(): string[] {
    return [...this.cuts];
  }

  /**
   * Removes what create() made. Deleting the root side of a veth removes both ends at
   * once (deleting only the namespace leaves the kernel to do it later); processes still
   * inside a namespace must be gone first, or the namespace outlives its name.
   */
  async destroy(): Promise<void> {
    for (const link of this.made.links.reverse()) await ip('link', 'del', link).catch(() => undefined);
    for (const ns of this.made.namespaces) await ip('netns', 'del', ns).catch(() => undefined);
    this.made.links = [];
    this.made.namespaces = [];
  }

  /** destroy() for a signal handler, which cannot wait for promises. */
  destroySync(): void {
    for (const link of this.made.links.reverse()) this.trySync('link', 'del', link);
    for (const ns of this.made.namespaces) this.trySync('netns', 'del', ns);
    this.made.links = [];
    this.made.namespaces = [];
  }

  private trySync(...args: string[]): void {
    try {
      execFileSync('ip', args, { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
