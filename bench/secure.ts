/**
 * `npm run bench -- --secure`: what TLS and SCRAM cost. The secure cluster speaks TLS on
 * every connection (mutual TLS between brokers, ECDSA P-256 certificates made with openssl),
 * runs `--authn scram`, and the measured clients log in as a user with a SCRAM-SHA-512
 * credential that ACLs (not superuser rights) allow onto the bench's topics, so the
 * authorizer's checks are measured too. Rounds alternate plaintext and secure in one
 * sitting; the table gives secure ÷ plaintext of their medians.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, FlotillaError, type ClientOptions } from '../client/index.js';
import { generateCertificates } from './certificates.js';
import { waitFor } from './cluster.js';
import { compare, formatValue, fmtRatio } from './compare.js';
import type { BenchResults } from './results.js';
import { fmtFixed, fmtSpread, median, type Spread } from './stats.js';

/** Every topic the bench makes starts with this; the bench user's ACLs cover it. */
const TOPIC_PREFIX = 'bench-';
/** Throughput the secure cluster should keep, as a share of plaintext's. */
export const SECURE_THROUGHPUT_TARGET = 0.7;

export interface SecureBench {
  /** TLS and authentication flags of broker `id`. */
  brokerArgs(id: number): string[];
  /** The brokers' environment: the bootstrap superuser. */
  env: Record<string, string>;
  /** How the superuser connects (set-up only). */
  admin: Partial<ClientOptions>;
  /** How the measured clients connect: TLS and SCRAM-SHA-512 as the bench user. */
  client: Partial<ClientOptions>;
  /** Creates the bench user and its ACLs, and waits until every broker lets it in. */
  grant(bootstrap: string[]): Promise<void>;
  /** Deletes the certificates. */
  dispose(): void;
}

export function secureBench(): SecureBench {
  const certs = generateCertificates(mkdtempSync(join(tmpdir(), 'flotilla-bench-secure-')), { brokers: 3, clients: [] });
  const ca = readFileSync(certs.ca);
  const superuser = { mechanism: 'scram-sha-256' as const, username: 'bench-admin', password: randomBytes(18).toString('base64url') };
  const user = { mechanism: 'scram-sha-512' as const, username: 'bench', password: randomBytes(18).toString('base64url') };
  const admin: Partial<ClientOptions> = { tls: { ca }, sasl: superuser };
  const client: Partial<ClientOptions> = { tls: { ca }, sasl: user };
  return {
    brokerArgs: (id) => {
      const own = certs.brokers.get(id)!;
      return ['--tls-cert', own.cert, '--tls-key', own.key, '--tls-ca', certs.ca, '--authn', 'scram', '--superusers', superuser.username];
    },
    env: { FLOTILLA_BOOTSTRAP_USER: `${superuser.username}:${superuser.password}` },
    admin,
    client,
    grant: async (bootstrap) => {
      const setup = new Client({ brokers: bootstrap, clientId: 'bench-grant', requestTimeoutMs: 10_000, ...admin });
      try {
        await setup.admin().createUser({ name: user.username, password: user.password, mechanism: user.mechanism });
        await setup.admin().createAcls([{ principal: `User:${user.username}`, permission: 'allow', operation: 'all', resourceType: 'topic', resourceName: TOPIC_PREFIX, patternType: 'prefixed' }]);
      } finally {
        await setup.close();
      }
      // Users and ACLs reach each broker through the metadata log: wait until every one
      // authenticates the user and lets it see a bench topic (UNKNOWN_TOPIC, not NOT_AUTHORIZED).
      for (const address of bootstrap) {
        const probe = new Client({ brokers: [address], clientId: 'bench-grant-probe', requestTimeoutMs: 5_000, ...client });
        try {
          await waitFor(`broker ${address} to accept the bench user`, async () => {
            try {
              await probe.admin().describeTopic(`${TOPIC_PREFIX}probe`);
              return true;
            } catch (error) {
              return error instanceof FlotillaError && error.code === 'UNKNOWN_TOPIC';
            }
          }, 30_000, 100);
        } finally {
          await probe.close();
        }
      }
    },
    dispose: () => rmSync(certs.dir, { recursive: true, force: true }),
  };
}

/** The measures the target applies to: every publish and consume throughput. */
function throughputRatios(plaintext: BenchResults[], secure: BenchResults[]): Array<{ measure: string; ratio: number }> {
  return compare(plaintext, secure).filter((f) => f.unit === 'records/s');
}

/** The table of `--secure`: plaintext and secure side by side, and secure ÷ plaintext. */
export function renderSecureComparison(plaintext: BenchResults[], secure: BenchResults[]): string {
  const first = secure[0]!.meta;
  const s = first.settings;
  const rounds = secure.length;
  const header =
    `Plaintext vs TLS + SCRAM, Flotilla ${first.commit?.slice(0, 7) ?? ''}. ${rounds} round${rounds === 1 ? '' : 's'} each in one sitting, alternated (plaintext, secure, plaintext, secure, …), never both at once; ` +
    `each round starts a fresh cluster of 3 brokers on one machine (${first.cores} × ${first.cpus}), replication 3, acks all, fsync ${s.fsync}, ${s.partitions} partitions per topic, ` +
    `one ${s.publishMs / 1000} s publish run per size, one read-back, one latency run, one leader kill. ` +
    `Secure: TLS (ECDSA P-256) on every connection, mutual TLS between brokers, clients authenticated with SCRAM-SHA-512 and allowed by a prefixed topic ACL (not a superuser). ` +
    `Cells: median (min–max) over the rounds; ratio = secure median ÷ plaintext median. ${first.node}, ${first.date}.`;
  const rows = compare(plaintext, secure).map((f) => {
    const cell = (x: Spread) => `${fmtSpread(x, (n) => formatValue(f.unit, n))} ${f.unit}`;
    return `| ${f.measure} | ${cell(f.baseline)} | ${cell(f.head)} | ${fmtRatio(f)} |`;
  });
  const lines = [header, '', '| measure | plaintext | TLS + SCRAM | secure ÷ plaintext |', '|---|---:|---:|---:|', ...rows];
  const ratios = throughputRatios(plaintext, secure);
  const lowest = ratios.reduce((low, r) => (r.ratio < low.ratio ? r : low), ratios[0]!);
  const verdict = lowest.ratio >= SECURE_THROUGHPUT_TARGET ? 'met' : 'NOT met';
  lines.push('', `Throughput target, secure ≥ ${fmtFixed(SECURE_THROUGHPUT_TARGET, 2)} × plaintext: ${verdict} (lowest: ${lowest.measure}, ${fmtFixed(lowest.ratio, 2)}).`);
  const otherCores = (rs: BenchResults[]) => (['publish', 'consume', 'latency'] as const).map((phase) => fmtFixed(median(rs.map((r) => r.cpu[phase].otherCores)), 2)).join(' / ');
  lines.push('', `Other processes' CPU in cores (of ${first.cores}), median over rounds, publish / consume / latency phases: plaintext ${otherCores(plaintext)}; secure ${otherCores(secure)}.`);
  for (const [name, side] of [['plaintext', plaintext], ['secure', secure]] as const) {
    const missing = Math.max(...side.map((r) => r.missingOnReadBack));
    const lost = side.reduce((n, r) => n + r.failover.lost, 0);
    if (missing > 0) lines.push('', `WARNING (${name}): ${missing} acknowledged records were not read back.`);
    if (lost > 0) lines.push('', `WARNING (${name}): ${lost} acknowledged records were lost in failover.`);
  }
  return lines.join('\n');
}
