/**
 * `flotilla dev --secure`: what a local cluster needs for TLS on every connection and
 * SCRAM. Under the data directory it keeps certs/ (a CA, broker-N and a client certificate
 * for the superuser, made with openssl by bench/certificates.ts) and the superuser's
 * password (mode 0600); a restart on the same directory reuses both, so clients set up
 * once keep working. The brokers create the superuser from FLOTILLA_BOOTSTRAP_USER when
 * the cluster first forms.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureCertificates, type CertificatePair } from '../../bench/certificates.js';
import type { ClientOptions } from '../options.js';

/** The superuser `dev --secure` creates. */
export const DEV_SUPERUSER = 'admin';
/** The bootstrap user's credential is SCRAM-SHA-256 (its default), so clients use that mechanism. */
const DEV_MECHANISM = 'scram-sha-256';

export interface SecureDev {
  user: string;
  password: string;
  /** Absolute paths, printed for the user. */
  passwordFile: string;
  ca: string;
  brokers: Map<number, CertificatePair>;
  client: CertificatePair;
}

/** Makes (or finds, from an earlier run on `data`) the certificates and the superuser's password. */
export function prepareSecureDev(data: string, brokers: number): SecureDev {
  const root = path.resolve(data);
  const certs = ensureCertificates(path.join(root, 'certs'), { brokers, clients: [DEV_SUPERUSER] });
  const passwordFile = path.join(root, `${DEV_SUPERUSER}.password`);
  if (!existsSync(passwordFile)) {
    // 'wx': never overwrite a password a concurrent start wrote first.
    writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600, flag: 'wx' });
  }
  const password = readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
  if (password === '') throw new Error(`${passwordFile} is empty: delete it to have a new password made (the cluster's superuser keeps the password it was created with)`);
  return { user: DEV_SUPERUSER, password, passwordFile, ca: certs.ca, brokers: certs.brokers, client: certs.clients.get(DEV_SUPERUSER)! };
}

/** Broker `id`'s TLS and authentication flags (the password goes in the environment). */
export function secureBrokerArgs(secure: SecureDev, id: number): string[] {
  const own = secure.brokers.get(id)!;
  return [
    '--tls-cert', own.cert, '--tls-key', own.key, '--tls-ca', secure.ca,
    // A client certificate the CA signed, when shown, authenticates its CN (the superuser's here).
    '--tls-client-auth', 'request',
    '--authn', 'scram', '--superusers', secure.user,
  ];
}

/** What the dev command's own client (its status poll) connects with. */
export function secureClientOptions(secure: SecureDev): Partial<ClientOptions> {
  return { tls: { ca: readFileSync(secure.ca) }, sasl: { mechanism: DEV_MECHANISM, username: secure.user, password: secure.password } };
}

/** A word for a POSIX shell: quoted only when it needs to be. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** How to connect with the flotilla CLI, kafkajs and kcat, and where the consoles are. */
export function secureConnectionText(secure: SecureDev, cluster: { addresses: string[]; kafkaAddresses: string[]; httpAddresses: string[] }): string {
  const ca = shellWord(secure.ca);
  const passwordFile = shellWord(secure.passwordFile);
  const js = (text: string) => JSON.stringify(text).replace(/"/g, "'");
  const kafkaBrokers = `[${cluster.kafkaAddresses.map(js).join(', ')}]`;
  const mechanism = DEV_MECHANISM.toUpperCase();
  return [
    `secure: TLS on every connection (mutual TLS between brokers), SCRAM authentication, superuser "${secure.user}"`,
    `  certificates: CA ${secure.ca}; client certificate ${secure.client.cert} (CN ${secure.user}); password in ${secure.passwordFile}`,
    `  flotilla CLI:`,
    `    export FLOTILLA_BROKERS=${cluster.addresses.join(',')}`,
    `    npx flotilla --tls-ca ${ca} --user ${secure.user} --password-file ${passwordFile} cluster status`,
    `    (or env FLOTILLA_TLS_CA=${ca} FLOTILLA_USER=${secure.user} FLOTILLA_PASSWORD="$(cat ${passwordFile})"; --tls-cert ${shellWord(secure.client.cert)} --tls-key ${shellWord(secure.client.key)} instead of the password)`,
    `  kafkajs: new Kafka({ brokers: ${kafkaBrokers}, ssl: { ca: [fs.readFileSync(${js(secure.ca)}, 'utf8')] }, sasl: { mechanism: '${DEV_MECHANISM}', username: '${secure.user}', password: fs.readFileSync(${js(secure.passwordFile)}, 'utf8') } })`,
    `  kcat: kcat -b ${cluster.kafkaAddresses.join(',')} -X security.protocol=SASL_SSL -X sasl.mechanisms=${mechanism} -X sasl.username=${secure.user} -X sasl.password="$(cat ${passwordFile})" -X ssl.ca.location=${ca} -L`,
    `  consoles (plain HTTP, read-only): ${cluster.httpAddresses.map((a) => `http://${a}/`).join('  ')}`,
    '',
  ].join('\n');
}
