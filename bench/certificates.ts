/**
 * Test certificates made with the openssl command (Node cannot create X.509
 * certificates): a CA, one certificate per broker (CN broker-N, IP SAN 127.0.0.1 and DNS
 * localhost, usable as server and client: peers use mutual TLS), client certificates
 * (CN = the user, for client authentication only and valid for no host, so that a broker
 * refuses one on a peer connection), and a foreign CA with a certificate of its own that
 * nobody trusts.
 * EC P-256 keys, so a full set takes a fraction of a second. Used by the tests, the TLS
 * benchmark and `flotilla dev --secure`.
 *
 *   node dist/bench/certificates.js DIR [--brokers 3] [--clients alice]
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** PEM file paths of one certificate and its key. */
export interface CertificatePair {
  cert: string;
  key: string;
}

/** A CA and the certificates it signed for brokers and clients. */
export interface CertificateSet {
  dir: string;
  /** The CA every broker and client trusts. */
  ca: string;
  /** By broker id (1..brokers). */
  brokers: Map<number, CertificatePair>;
  /** By user name. */
  clients: Map<string, CertificatePair>;
}

export interface Certificates extends CertificateSet {
  /** A CA nobody here trusts, and a certificate (CN "mallory", IP SAN 127.0.0.1) it signed. */
  foreignCa: string;
  foreign: CertificatePair;
}

const CA_EXTENSIONS = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
const LEAF_EXTENSIONS = [
  'subjectAltName=IP:127.0.0.1,DNS:localhost',
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth,clientAuth',
].join('\n');
const CLIENT_EXTENSIONS = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=clientAuth',
].join('\n');
const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Fails with a message that says what to install when openssl is not on the PATH. */
function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the openssl command is needed to generate certificates and was not found on the PATH; install OpenSSL (for example `apt-get install openssl`) and try again');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

function makeCa(dir: string, name: string, subject: string): string {
  openssl(['req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '3650', '-subj', `/CN=${subject}`, ...CA_EXTENSIONS], dir);
  chmodSync(join(dir, `${name}.key`), 0o600);
  return join(dir, `${name}.crt`);
}

/** A certificate `ca` signed: with `extensions` 'leaf.ext' a broker's (or any server's), 'client.ext' a client's. */
function makeLeaf(dir: string, name: string, commonName: string, ca: string, extensions = 'leaf.ext'): CertificatePair {
  openssl(['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '825', '-extfile', extensions], dir);
  chmodSync(join(dir, `${name}.key`), 0o600);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** Writes a fresh set into `dir` (created if missing) and returns the paths. */
export function generateCertificates(dir: string, options: { brokers?: number; clients?: string[] } = {}): Certificates {
  const set = signedSet(dir, options, () => true);
  const foreignCa = makeCa(dir, 'foreign-ca', 'Someone Else CA');
  const foreign = makeLeaf(dir, 'foreign', 'mallory', 'foreign-ca');
  return { ...set, foreignCa, foreign };
}

/**
 * The set in `dir`, made only where a file is missing: a CA that exists is kept (with
 * every certificate it signed), so clients that trust it keep working across restarts.
 * Without the CA's key, everything is made afresh.
 */
export function ensureCertificates(dir: string, options: { brokers?: number; clients?: string[] } = {}): CertificateSet {
  const caKept = existsSync(join(dir, 'ca.crt')) && existsSync(join(dir, 'ca.key'));
  return signedSet(dir, options, (name) => !caKept || !existsSync(join(dir, `${name}.crt`)) || !existsSync(join(dir, `${name}.key`)));
}

/** The CA and its leaves in `dir`, each file made when `make(name)` says so (the CA first: a new CA remakes every leaf). */
function signedSet(dir: string, options: { brokers?: number; clients?: string[] }, make: (name: string) => boolean): CertificateSet {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'leaf.ext'), `${LEAF_EXTENSIONS}\n`);
  writeFileSync(join(dir, 'client.ext'), `${CLIENT_EXTENSIONS}\n`);
  const newCa = make('ca');
  const ca = newCa ? makeCa(dir, 'ca', 'Flotilla CA') : join(dir, 'ca.crt');
  const leaf = (name: string, commonName: string, extensions?: string): CertificatePair =>
    newCa || make(name) ? makeLeaf(dir, name, commonName, 'ca', extensions) : { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const brokers = new Map<number, CertificatePair>();
  for (let id = 1; id <= (options.brokers ?? 3); id++) brokers.set(id, leaf(`broker-${id}`, `broker-${id}`));
  const clients = new Map<string, CertificatePair>();
  for (const user of options.clients ?? ['alice']) clients.set(user, leaf(`client-${user}`, user, 'client.ext'));
  return { dir, ca, brokers, clients };
}

/** Issues one more certificate from the set's CA (a renewed broker certificate, say) into `certs.dir`. */
export function issueCertificate(certs: Certificates, name: string, commonName: string): CertificatePair {
  return makeLeaf(certs.dir, name, commonName, 'ca');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { brokers: { type: 'string', default: '3' }, clients: { type: 'string', default: 'alice' } } });
  if (positionals.length !== 1) {
    process.stderr.write('usage: node dist/bench/certificates.js DIR [--brokers 3] [--clients alice,bob]\n');
    process.exit(2);
  }
  const made = generateCertificates(positionals[0]!, { brokers: Number(values.brokers), clients: values.clients!.split(',').filter(Boolean) });
  process.stdout.write(`CA ${made.ca}; ${made.brokers.size} broker certificates and ${made.clients.size} client certificates in ${made.dir}\n`);
}
