/**
 * SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), shared by the client, the CLI and
 * the broker: the key derivation, the four messages, and the two sides of a conversation
 * as small state machines that take a message and return the next one. Only `n,,` is
 * spoken: no channel binding and no authorization identity.
 *
 *   client                                  server
 *   clientFirst()            n,,n=U,r=CN ─► handleClientFirst()
 *   handleServerFirst()  ◄─ r=CNSN,s=SALT,i=N
 *                     c=biws,r=CNSN,p=PROOF ─► handleClientFinal()
 *   handleServerFinal()  ◄─ v=SIGNATURE         (or AUTHENTICATION_FAILED)
 *
 * Passwords are used as their UTF-8 bytes, without SASLprep (RFC 4013): Kafka's Java
 * client and librdkafka do the same, so credentials made by `flotilla user create` work
 * from Kafka clients too. For ASCII passwords the two agree.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { FlotillaError } from './errors.js';

export type ScramMechanism = 'scram-sha-256' | 'scram-sha-512';

const DIGESTS: Record<ScramMechanism, { hash: 'sha256' | 'sha512'; bytes: number }> = {
  'scram-sha-256': { hash: 'sha256', bytes: 32 },
  'scram-sha-512': { hash: 'sha512', bytes: 64 },
};

export const SCRAM_MECHANISMS = Object.keys(DIGESTS) as ScramMechanism[];

/**
 * The iteration counts a credential may have, and that a client agrees to compute. Below
 * 4,096 (RFC 7677's minimum) a stolen StoredKey is cheap to attack; above 100,000 a
 * malicious server could make every login burn the client's CPU.
 */
export const MIN_SCRAM_ITERATIONS = 4096;
export const MAX_SCRAM_ITERATIONS = 100_000;
export const DEFAULT_SCRAM_ITERATIONS = 4096;

const SALT_BYTES = 24;
const NONCE_BYTES = 24;
/** base64('n,,'): the channel-binding attribute of a client-final message without channel binding. */
const GS2_HEADER = 'n,,';
const CHANNEL_BINDING = Buffer.from(GS2_HEADER).toString('base64');

/**
 * What the broker stores for a user, base64 where binary: enough to check a client's proof
 * and to prove itself, never the password. The payload of the controller's `upsertUser`.
 */
export interface ScramCredential {
  mechanism: ScramMechanism;
  salt: string;
  iterations: number;
  /** H(ClientKey): verifies the client's proof; cannot produce one. */
  storedKey: string;
  /** HMAC(SaltedPassword, "Server Key"): signs the server-final message. */
  serverKey: string;
}

export function isScramMechanism(value: unknown): value is ScramMechanism {
  return typeof value === 'string' && Object.hasOwn(DIGESTS, value);
}

/** The SASL name of a mechanism, e.g. `SCRAM-SHA-256` (as Kafka's SaslHandshake spells it). */
export function saslMechanismName(mechanism: ScramMechanism): string {
  return mechanism.toUpperCase();
}

// ---------------------------------------------------------------------------------------
// Key derivation (RFC 5802 section 3)

function hmac(mechanism: ScramMechanism, key: Buffer, text: string | Buffer): Buffer {
  return createHmac(DIGESTS[mechanism].hash, key).update(text).digest();
}

function hash(mechanism: ScramMechanism, data: Buffer): Buffer {
  return createHash(DIGESTS[mechanism].hash).update(data).digest();
}

/** SaltedPassword = Hi(password, salt, i): PBKDF2 with HMAC-H, one block of H's length. */
export function saltedPassword(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  const { hash: digest, bytes } = DIGESTS[mechanism];
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, bytes, digest);
}

export interface ScramKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export function scramKeys(mechanism: ScramMechanism, salted: Buffer): ScramKeys {
  const clientKey = hmac(mechanism, salted, 'Client Key');
  return { clientKey, storedKey: hash(mechanism, clientKey), serverKey: hmac(mechanism, salted, 'Server Key') };
}

/**
 * The credential the broker stores for `password`, derived where the password is typed
 * (the CLI), so that no password crosses the wire or reaches a broker's log. A fresh
 * random salt unless one is given.
 */
export function deriveScramCredential(
  password: string,
  mechanism: ScramMechanism = 'scram-sha-256',
  iterations: number = DEFAULT_SCRAM_ITERATIONS,
  salt: Buffer = randomBytes(SALT_BYTES),
): ScramCredential {
  if (!isScramMechanism(mechanism)) throw invalidCredential(`unknown mechanism ${JSON.stringify(mechanism)}`);
  checkIterations(iterations, invalidCredential);
  if (salt.length === 0) throw invalidCredential('the salt is empty');
  const keys = scramKeys(mechanism, saltedPassword(mechanism, password, salt, iterations));
  return { mechanism, salt: salt.toString('base64'), iterations, storedKey: keys.storedKey.toString('base64'), serverKey: keys.serverKey.toString('base64') };
}

/** Throws INVALID_REQUEST naming the first problem unless `value` is a well-formed credential; returns it. */
export function validateScramCredential(value: unknown): ScramCredential {
  if (typeof value !== 'object' || value === null) throw invalidCredential('expected an object');
  const c = value as Record<string, unknown>;
  if (!isScramMechanism(c.mechanism)) throw invalidCredential(`mechanism must be one of ${SCRAM_MECHANISMS.join(', ')}, got ${JSON.stringify(c.mechanism)}`);
  checkIterations(c.iterations, invalidCredential);
  const keyBytes = DIGESTS[c.mechanism].bytes;
  const salt = decodeBase64(c.salt);
  if (!salt || salt.length === 0) throw invalidCredential('salt must be non-empty base64');
  for (const field of ['storedKey', 'serverKey'] as const) {
    const key = decodeBase64(c[field]);
    if (!key || key.length !== keyBytes) throw invalidCredential(`${field} must be ${keyBytes} bytes of base64 for ${c.mechanism}`);
  }
  return { mechanism: c.mechanism, salt: c.salt as string, iterations: c.iterations as number, storedKey: c.storedKey as string, serverKey: c.serverKey as string };
}

function invalidCredential(problem: string): FlotillaError {
  return new FlotillaError('INVALID_REQUEST', `invalid SCRAM credential: ${problem}`);
}

function checkIterations(iterations: unknown, fail: (problem: string) => FlotillaError): void {
  if (typeof iterations !== 'number' || !Number.isInteger(iterations) || iterations < MIN_SCRAM_ITERATIONS || iterations > MAX_SCRAM_ITERATIONS) {
    throw fail(`iterations must be a whole number from ${MIN_SCRAM_ITERATIONS} to ${MAX_SCRAM_ITERATIONS}, got ${JSON.stringify(iterations)}`);
  }
}

// ---------------------------------------------------------------------------------------
// Message syntax (RFC 5802 section 7)

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** printable = %x21-2B / %x2D-7E: printable ASCII but ','. */
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;

/** Strict base64 (Buffer.from alone accepts anything); undefined when `value` is not. */
function decodeBase64(value: unknown): Buffer | undefined {
  return typeof value === 'string' && BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
}

/** saslname: `=` as `=3D` and `,` as `=2C`. */
export function escapeSaslName(name: string): string {
  return name.replaceAll('=', '=3D').replaceAll(',', '=2C');
}

export function unescapeSaslName(saslname: string): string {
  if (/=(?!2C|3D)/.test(saslname)) throw malformed('user name', `"=" must be followed by 2C or 3D, got ${JSON.stringify(saslname)}`);
  return saslname.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

function malformed(message: string, problem: string): FlotillaError {
  return new FlotillaError('AUTHENTICATION_FAILED', `malformed SCRAM ${message}: ${problem}`);
}

/**
 * The attributes of a message in order, each `k=value` with a one-letter key (Kafka's
 * extensions have longer keys; they are kept too and ignored). Values never hold a comma.
 */
function attributes(message: string, what: string): Array<{ key: string; value: string }> {
  return message.split(',').map((part) => {
    const equals = part.indexOf('=');
    if (equals < 1) throw malformed(what, `expected attribute=value, got ${JSON.stringify(part)}`);
    return { key: part.slice(0, equals), value: part.slice(equals + 1) };
  });
}

/** The value of attribute `key` at `position`, or a clear error. */
function attributeAt(attrs: Array<{ key: string; value: string }>, position: number, key: string, what: string): string {
  // RFC 5802: a message may start with m= (reserved for mandatory extensions); none exist.
  if (attrs[0]?.key === 'm') throw malformed(what, 'mandatory extensions (m=) are not supported');
  const attr = attrs[position];
  if (!attr || attr.key !== key) throw malformed(what, `expected "${key}=" as attribute ${position + 1}, got ${attr ? JSON.stringify(`${attr.key}=`) : 'nothing'}`);
  return attr.value;
}

function randomNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64');
}

function checkNonce(nonce: string, what: string): string {
  if (!NONCE.test(nonce)) throw malformed(what, 'the nonce must be printable ASCII without commas');
  return nonce;
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Each side calls its steps once, in order; anything else is a bug in the caller. */
function outOfOrder(side: string, step: string, state: string): FlotillaError {
  return new FlotillaError('INTERNAL', `SCRAM ${side}: ${step} called in state ${state}`);
}

// ---------------------------------------------------------------------------------------
// The client's side

export interface ScramClientOptions {
  mechanism: ScramMechanism;
  username: string;
  password: string;
  /** The client nonce; random unless given (test vectors). */
  nonce?: string;
}

export class ScramClient {
  private state: 'start' | 'first sent' | 'final sent' | 'done' = 'start';
  private readonly nonce: string;
  private clientFirstBare = '';
  private expectedServerSignature: Buffer = Buffer.alloc(0);

  constructor(private readonly options: ScramClientOptions) {
    if (!isScramMechanism(options.mechanism)) throw new FlotillaError('INVALID_CONFIG', `SASL mechanism must be one of ${SCRAM_MECHANISMS.join(', ')}, got ${JSON.stringify(options.mechanism)}`);
    if (!options.username) throw new FlotillaError('INVALID_CONFIG', 'SASL user name is empty');
    this.nonce = checkNonce(options.nonce ?? randomNonce(), 'client nonce');
  }

  /** client-first-message: `n,,n=USER,r=NONCE`. */
  clientFirst(): string {
    if (this.state !== 'start') throw outOfOrder('client', 'clientFirst', this.state);
    this.state = 'first sent';
    this.clientFirstBare = `n=${escapeSaslName(this.options.username)},r=${this.nonce}`;
    return GS2_HEADER + this.clientFirstBare;
  }

  /**
   * Reads server-first-message and returns client-final-message (with the proof). Refuses
   * a nonce that does not extend the client's and an iteration count outside
   * MIN..MAX_SCRAM_ITERATIONS before computing anything.
   */
  handleServerFirst(serverFirst: string): string {
    if (this.state !== 'first sent') throw outOfOrder('client', 'handleServerFirst', this.state);
    const what = 'server-first message';
    const attrs = attributes(serverFirst, what);
    const nonce = checkNonce(attributeAt(attrs, 0, 'r', what), what);
    const salt = decodeBase64(attributeAt(attrs, 1, 's', what));
    const iterationsText = attributeAt(attrs, 2, 'i', what);
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) {
      throw new FlotillaError('AUTHENTICATION_FAILED', 'SCRAM server-first message: the server nonce does not extend the client nonce');
    }
    if (!salt || salt.length === 0) throw malformed(what, 'the salt must be non-empty base64');
    const iterations = /^[1-9][0-9]{0,9}$/.test(iterationsText) ? Number(iterationsText) : NaN;
    checkIterations(iterations, (problem) => new FlotillaError('AUTHENTICATION_FAILED', `SCRAM server-first message: the server asks for ${JSON.stringify(iterationsText)} iterations; ${problem}`));

    const { mechanism, password } = this.options;
    const salted = saltedPassword(mechanism, password, salt, iterations);
    const keys = scramKeys(mechanism, salted);
    const withoutProof = `c=${CHANNEL_BINDING},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const proof = xor(keys.clientKey, hmac(mechanism, keys.storedKey, authMessage));
    this.expectedServerSignature = hmac(mechanism, keys.serverKey, authMessage);
    this.state = 'final sent';
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Reads server-final-message: succeeds only when the server proved it holds this user's ServerKey. */
  handleServerFinal(serverFinal: string): void {
    if (this.state !== 'final sent') throw outOfOrder('client', 'handleServerFinal', this.state);
    const what = 'server-final message';
    const first = attributes(serverFinal, what)[0]!;
    if (first.key === 'e') throw new FlotillaError('AUTHENTICATION_FAILED', `the server refused the SCRAM authentication: ${first.value}`);
    const signature = decodeBase64(attributeAt([first], 0, 'v', what));
    if (!signature) throw malformed(what, 'the server signature must be base64');
    if (!sameBytes(signature, this.expectedServerSignature)) {
      throw new FlotillaError('AUTHENTICATION_FAILED', 'the server\'s SCRAM signature is wrong: it does not hold this user\'s credentials, or the exchange was tampered with');
    }
    this.state = 'done';
  }
}

// ---------------------------------------------------------------------------------------
// The server's side

export interface ScramServerOptions {
  mechanism: ScramMechanism;
  /** The stored credential of a user, if there is one. */
  credentialOf: (username: string) => ScramCredential | undefined;
  /** The server's part of the nonce; random unless given (test vectors). */
  nonce?: string;
  /**
   * Keys the salts of users that do not exist. The same on every broker of a cluster (and
   * across restarts), a missing user's salt is as stable as a real one's; without it, a
   * secret of the process's own.
   */
  unknownUserSecret?: Buffer;
}

/** Keys for users that do not exist, so that they look like users whose password is wrong. */
const PROCESS_UNKNOWN_USER_SECRET = randomBytes(32);

export class ScramServer {
  private state: 'start' | 'first sent' | 'done' = 'start';
  private username = '';
  private credential: ScramCredential | undefined;
  private salt: Buffer = Buffer.alloc(0);
  private iterations = DEFAULT_SCRAM_ITERATIONS;
  private nonce = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private authenticatedUser: string | undefined;

  constructor(private readonly options: ScramServerOptions) {}

  /**
   * Reads client-first-message and returns server-first-message. A user that does not
   * exist (or has no credential for this mechanism) gets a salt of its own, the same at every
   * ask (keyed by `unknownUserSecret`), and the default iteration count, and fails only at
   * the proof, like a wrong password: the exchange does not tell who exists (unless a real
   * user was given another iteration count).
   */
  handleClientFirst(clientFirst: string): string {
    if (this.state !== 'start') throw outOfOrder('server', 'handleClientFirst', this.state);
    const what = 'client-first message';
    if (!clientFirst.startsWith(GS2_HEADER)) {
      if (/^[yp][,=]/.test(clientFirst)) throw malformed(what, 'channel binding is not supported; start with "n,,"');
      if (clientFirst.startsWith('n,a=')) throw malformed(what, 'an authorization identity is not supported; start with "n,,"');
      throw malformed(what, 'it must start with "n,,"');
    }
    this.clientFirstBare = clientFirst.slice(GS2_HEADER.length);
    const attrs = attributes(this.clientFirstBare, what);
    this.username = unescapeSaslName(attributeAt(attrs, 0, 'n', what));
    if (!this.username) throw malformed(what, 'the user name is empty');
    const clientNonce = checkNonce(attributeAt(attrs, 1, 'r', what), what);

    const { mechanism } = this.options;
    const stored = this.options.credentialOf(this.username);
    this.credential = stored?.mechanism === mechanism ? stored : undefined;
    this.salt = this.credential
      ? Buffer.from(this.credential.salt, 'base64')
      : hmac('scram-sha-256', this.options.unknownUserSecret ?? PROCESS_UNKNOWN_USER_SECRET, `${mechanism}\n${this.username}`).subarray(0, SALT_BYTES);
    this.iterations = this.credential?.iterations ?? DEFAULT_SCRAM_ITERATIONS;
    this.nonce = clientNonce + checkNonce(this.options.nonce ?? randomNonce(), 'server nonce');
    this.serverFirst = `r=${this.nonce},s=${this.salt.toString('base64')},i=${this.iterations}`;
    this.state = 'first sent';
    return this.serverFirst;
  }

  /**
   * Reads client-final-message and returns server-final-message (`v=` signature) once the
   * proof checks out; otherwise AUTHENTICATION_FAILED. Then `user` is the authenticated name.
   */
  handleClientFinal(clientFinal: string): string {
    if (this.state !== 'first sent') throw outOfOrder('server', 'handleClientFinal', this.state);
    this.state = 'done';
    const what = 'client-final message';
    const attrs = attributes(clientFinal, what);
    const channelBinding = attributeAt(attrs, 0, 'c', what);
    const nonce = attributeAt(attrs, 1, 'r', what);
    const proofAttr = attrs[attrs.length - 1]!;
    if (attrs.length < 3 || proofAttr.key !== 'p') throw malformed(what, 'the proof (p=) must come last');
    if (channelBinding !== CHANNEL_BINDING) throw malformed(what, `channel binding must be "${CHANNEL_BINDING}" (n,,), got ${JSON.stringify(channelBinding)}`);
    // Kafka's rule: the nonce must end with the agreed one. librdkafka (kcat) sends its own
    // nonce before the whole agreed nonce; the proof covers the message as sent either way.
    if (!nonce.endsWith(this.nonce)) throw new FlotillaError('AUTHENTICATION_FAILED', 'SCRAM client-final message: the nonce is not the one this exchange agreed');
    const proof = decodeBase64(proofAttr.value);
    if (!proof) throw malformed(what, 'the proof must be base64');

    const { mechanism } = this.options;
    const withoutProof = clientFinal.slice(0, clientFinal.length - proofAttr.value.length - ',p='.length);
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const credential = this.credential;
    const storedKey = credential ? Buffer.from(credential.storedKey, 'base64') : Buffer.alloc(DIGESTS[mechanism].bytes);
    // ClientKey = proof XOR ClientSignature; the proof is right when H(ClientKey) = StoredKey.
    const clientSignature = hmac(mechanism, storedKey, authMessage);
    const proven = proof.length === clientSignature.length && sameBytes(hash(mechanism, xor(proof, clientSignature)), storedKey);
    if (!credential || !proven) {
      throw new FlotillaError('AUTHENTICATION_FAILED', `SCRAM authentication failed for user "${this.username}": unknown user or wrong password (${saslMechanismName(mechanism)})`);
    }
    this.authenticatedUser = this.username;
    return `v=${hmac(mechanism, Buffer.from(credential.serverKey, 'base64'), authMessage).toString('base64')}`;
  }

  /** The user name, once handleClientFinal succeeded; undefined before. */
  get user(): string | undefined {
    return this.authenticatedUser;
  }
}
