// SCRAM-SHA-256/512 (RFC 5802, RFC 7677): the test vector, both sides talking, and every
// way an exchange must fail.
import t from 'tap';
import fc from 'fast-check';
import {
  DEFAULT_SCRAM_ITERATIONS,
  MAX_SCRAM_ITERATIONS,
  MIN_SCRAM_ITERATIONS,
  ScramClient,
  ScramServer,
  deriveScramCredential,
  escapeSaslName,
  unescapeSaslName,
  validateScramCredential,
  type ScramCredential,
  type ScramMechanism,
} from '../../protocol/scram.js';

/** Runs a whole exchange; returns the server (its `user` is set on success). */
function converse(client: ScramClient, server: ScramServer): ScramServer {
  const serverFirst = server.handleClientFirst(client.clientFirst());
  const serverFinal = server.handleClientFinal(client.handleServerFirst(serverFirst));
  client.handleServerFinal(serverFinal);
  return server;
}

function serverFor(users: Record<string, ScramCredential>, mechanism: ScramMechanism = 'scram-sha-256'): ScramServer {
  return new ScramServer({ mechanism, credentialOf: (name) => users[name] });
}

t.test('RFC 7677 section 3: the SCRAM-SHA-256 example is reproduced byte for byte', async (t) => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const credential = deriveScramCredential('pencil', 'scram-sha-256', 4096, salt);
  const client = new ScramClient({ mechanism: 'scram-sha-256', username: 'user', password: 'pencil', nonce: 'rOprNGfwEbeRWgbNEkqO' });
  const server = new ScramServer({ mechanism: 'scram-sha-256', credentialOf: (name) => (name === 'user' ? credential : undefined), nonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });

  const clientFirst = client.clientFirst();
  t.equal(clientFirst, 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const serverFirst = server.handleClientFirst(clientFirst);
  t.equal(serverFirst, 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
  const clientFinal = client.handleServerFirst(serverFirst);
  t.equal(clientFinal, 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  const serverFinal = server.handleClientFinal(clientFinal);
  t.equal(serverFinal, 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  client.handleServerFinal(serverFinal);
  t.equal(server.user, 'user');
});

t.test('SCRAM-SHA-512 round trip, with a user name that needs escaping', async (t) => {
  const name = 'ops,team=a';
  const users = { [name]: deriveScramCredential('correct horse', 'scram-sha-512', 5000) };
  const client = new ScramClient({ mechanism: 'scram-sha-512', username: name, password: 'correct horse' });
  const server = serverFor(users, 'scram-sha-512');
  t.equal(server.user, undefined, 'nobody is authenticated before the exchange');
  const clientFirst = client.clientFirst();
  t.match(clientFirst, /^n,,n=ops=2Cteam=3Da,r=[^,]+$/);
  const serverFinal = server.handleClientFinal(client.handleServerFirst(server.handleClientFirst(clientFirst)));
  t.match(serverFinal, /^v=[A-Za-z0-9+/]{86}==$/, 'a 64-byte signature');
  client.handleServerFinal(serverFinal);
  t.equal(server.user, name);
});

t.test('any user name and password round-trip; another password fails', async (t) => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 20, unit: 'binary' }), fc.string({ maxLength: 20, unit: 'binary' }), fc.constantFrom<ScramMechanism>('scram-sha-256', 'scram-sha-512'), (username, password, mechanism) => {
      const users = { [username]: deriveScramCredential(password, mechanism, MIN_SCRAM_ITERATIONS) };
      const server = converse(new ScramClient({ mechanism, username, password }), serverFor(users, mechanism));
      if (server.user !== username) throw new Error(`authenticated ${server.user}, expected ${username}`);
      const wrong = new ScramClient({ mechanism, username, password: `${password}x` });
      const other = serverFor(users, mechanism);
      const clientFinal = wrong.handleServerFirst(other.handleClientFirst(wrong.clientFirst()));
      try {
        other.handleClientFinal(clientFinal);
      } catch {
        return other.user === undefined;
      }
      return false;
    }),
    { numRuns: 40 },
  );
});

t.test('a wrong password, an unknown user and another mechanism fail alike, at the proof', async (t) => {
  const users = { alice: deriveScramCredential('secret'), bob: deriveScramCredential('secret', 'scram-sha-512') };
  const attempt = (username: string, password: string) => {
    const client = new ScramClient({ mechanism: 'scram-sha-256', username, password });
    const server = serverFor(users);
    const serverFirst = server.handleClientFirst(client.clientFirst());
    const clientFinal = client.handleServerFirst(serverFirst);
    t.throws(() => server.handleClientFinal(clientFinal), {
      code: 'AUTHENTICATION_FAILED',
      retriable: false,
      message: `SCRAM authentication failed for user "${username}": unknown user or wrong password (SCRAM-SHA-256)`,
    }, `${username}/${password}`);
    t.equal(server.user, undefined);
    return serverFirst.split(',')[1];
  };
  attempt('alice', 'Secret');
  const firstSalt = attempt('mallory', 'secret');
  t.equal(attempt('mallory', 'other'), firstSalt, 'an unknown user gets the same salt each time, as a real one would');
  t.not(attempt('trudy', 'secret'), firstSalt, 'and each unknown user its own');
  attempt('bob', 'secret');
});

t.test('the client refuses a server that cannot prove it holds the user\'s keys', async (t) => {
  const users = { alice: deriveScramCredential('secret') };
  const run = (tamper: (serverFinal: string) => string) => {
    const client = new ScramClient({ mechanism: 'scram-sha-256', username: 'alice', password: 'secret' });
    const server = serverFor(users);
    const serverFinal = server.handleClientFinal(client.handleServerFirst(server.handleClientFirst(client.clientFirst())));
    return () => client.handleServerFinal(tamper(serverFinal));
  };
  const flipLastKeyByte = (final: string) => {
    const signature = Buffer.from(final.slice(2), 'base64');
    signature[signature.length - 1]! ^= 1;
    return `v=${signature.toString('base64')}`;
  };
  t.throws(run(flipLastKeyByte), { code: 'AUTHENTICATION_FAILED', message: /signature is wrong/ });
  t.throws(run((final) => final.slice(0, 10) + '='), { code: 'AUTHENTICATION_FAILED', message: /malformed SCRAM server-final message: the server signature must be base64/ });
  t.throws(run(() => 'v=AAAA'), { code: 'AUTHENTICATION_FAILED', message: /signature is wrong/ }, 'a signature of the wrong length');
  t.throws(run(() => 'e=invalid-proof'), { code: 'AUTHENTICATION_FAILED', message: 'the server refused the SCRAM authentication: invalid-proof' });
  t.doesNotThrow(run((final) => final), 'the untouched signature passes');

  // A server that knows the user's salt but not its ServerKey (a stolen StoredKey, say).
  const impostor = { alice: { ...users.alice, serverKey: deriveScramCredential('guess', 'scram-sha-256', DEFAULT_SCRAM_ITERATIONS, Buffer.from(users.alice.salt, 'base64')).serverKey } };
  const client = new ScramClient({ mechanism: 'scram-sha-256', username: 'alice', password: 'secret' });
  const server = serverFor(impostor);
  const serverFinal = server.handleClientFinal(client.handleServerFirst(server.handleClientFirst(client.clientFirst())));
  t.throws(() => client.handleServerFinal(serverFinal), { code: 'AUTHENTICATION_FAILED', message: /signature is wrong/ });
});

t.test('the client caps the iterations a server may ask for and checks the nonce before any work', async (t) => {
  const serverFirst = (nonce: string, iterations: string) => `r=${nonce},s=c2FsdHNhbHQ=,i=${iterations}`;
  const cases: Array<[string, string, RegExp]> = [
    ['abcSERVER', String(MIN_SCRAM_ITERATIONS - 1), /asks for "4095" iterations; iterations must be a whole number from 4096 to 100000/],
    ['abcSERVER', String(MAX_SCRAM_ITERATIONS + 1), /asks for "100001" iterations/],
    ['abcSERVER', '1e5', /asks for "1e5" iterations/],
    ['abcSERVER', '04096', /asks for "04096" iterations/],
    ['xyzSERVER', '4096', /the server nonce does not extend the client nonce/],
    ['abc', '4096', /the server nonce does not extend the client nonce/],
  ];
  for (const [nonce, iterations, message] of cases) {
    const client = new ScramClient({ mechanism: 'scram-sha-256', username: 'u', password: 'p', nonce: 'abc' });
    client.clientFirst();
    t.throws(() => client.handleServerFirst(serverFirst(nonce, iterations)), { code: 'AUTHENTICATION_FAILED', message }, `r=${nonce} i=${iterations}`);
  }
  for (const iterations of [MIN_SCRAM_ITERATIONS, MAX_SCRAM_ITERATIONS]) {
    const client = new ScramClient({ mechanism: 'scram-sha-256', username: 'u', password: 'p', nonce: 'abc' });
    client.clientFirst();
    t.match(client.handleServerFirst(serverFirst('abcSERVER', String(iterations))), /^c=biws,r=abcSERVER,p=/, `${iterations} iterations are accepted`);
  }
});

t.test('malformed server-first messages are refused with what is wrong', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['m=x,r=abcS,s=c2FsdA==,i=4096', /mandatory extensions \(m=\) are not supported/],
    ['s=c2FsdA==,r=abcS,i=4096', /expected "r=" as attribute 1, got "s="/],
    ['r=abcS,s=not base64!,i=4096', /the salt must be non-empty base64/],
    ['r=abcS,s=,i=4096', /the salt must be non-empty base64/],
    ['r=abcS,s=c2FsdA==', /expected "i=" as attribute 3, got nothing/],
    ['garbage', /expected attribute=value, got "garbage"/],
  ];
  for (const [message, expected] of cases) {
    const client = new ScramClient({ mechanism: 'scram-sha-256', username: 'u', password: 'p', nonce: 'abc' });
    client.clientFirst();
    t.throws(() => client.handleServerFirst(message), { code: 'AUTHENTICATION_FAILED', message: expected }, message);
  }
});

t.test('malformed client-first messages are refused with what is wrong', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['y,,n=user,r=abc', /channel binding is not supported; start with "n,,"/],
    ['p=tls-unique,,n=user,r=abc', /channel binding is not supported/],
    ['n,a=admin,n=user,r=abc', /an authorization identity is not supported/],
    ['n=user,r=abc', /it must start with "n,,"/],
    ['n,,m=ext,n=user,r=abc', /mandatory extensions \(m=\) are not supported/],
    ['n,,r=abc,n=user', /expected "n=" as attribute 1, got "r="/],
    ['n,,n=user', /expected "r=" as attribute 2, got nothing/],
    ['n,,n=,r=abc', /the user name is empty/],
    ['n,,n=a=2Xb,r=abc', /malformed SCRAM user name: "=" must be followed by 2C or 3D/],
    ['n,,n=user,r=a b', /the nonce must be printable ASCII without commas/],
    ['n,,n=user,r=', /the nonce must be printable ASCII without commas/],
    ['n,,n=user,,r=abc', /expected attribute=value, got ""/],
  ];
  for (const [message, expected] of cases) {
    t.throws(() => serverFor({}).handleClientFirst(message), { code: 'AUTHENTICATION_FAILED', message: expected }, message);
  }
  // Extensions after the nonce (Kafka sends some) are ignored.
  t.match(serverFor({}).handleClientFirst('n,,n=user,r=abc,tokenauth=false'), /^r=abc[^,]+,s=[^,]+,i=4096$/);
});

t.test('malformed client-final messages are refused with what is wrong', async (t) => {
  const users = { alice: deriveScramCredential('secret') };
  const finals = () => {
    const client = new ScramClient({ mechanism: 'scram-sha-256', username: 'alice', password: 'secret' });
    const server = serverFor(users);
    const clientFinal = client.handleServerFirst(server.handleClientFirst(client.clientFirst()));
    return { server, clientFinal, nonce: clientFinal.split(',')[1]!.slice(2), proof: clientFinal.split(',')[2]! };
  };
  const cases: Array<[(f: ReturnType<typeof finals>) => string, RegExp]> = [
    [({ nonce, proof }) => `c=eSws,r=${nonce},${proof}`, /channel binding must be "biws" \(n,,\), got "eSws"/],
    [({ nonce, proof }) => `c=biws,r=${nonce}x,${proof}`, /the nonce is not the one this exchange agreed/],
    [({ nonce }) => `c=biws,r=${nonce}`, /the proof \(p=\) must come last/],
    [({ nonce, proof }) => `c=biws,r=${nonce},${proof},x=1`, /the proof \(p=\) must come last/],
    [({ nonce }) => `c=biws,r=${nonce},p=!!!!`, /the proof must be base64/],
    [({ nonce, proof }) => `r=${nonce},c=biws,${proof}`, /expected "c=" as attribute 1, got "r="/],
    [({ nonce }) => `c=biws,r=${nonce},p=AAAA`, /unknown user or wrong password/],
  ];
  for (const [build, expected] of cases) {
    const f = finals();
    const message = build(f);
    t.throws(() => f.server.handleClientFinal(message), { code: 'AUTHENTICATION_FAILED', message: expected }, message);
    t.equal(f.server.user, undefined);
  }
  // Extensions between the nonce and the proof are allowed, but they are part of what the proof signs.
  const f = finals();
  const [c, r, p] = f.clientFinal.split(',');
  t.throws(() => f.server.handleClientFinal(`${c},${r},x=1,${p}`), { code: 'AUTHENTICATION_FAILED', message: /wrong password/ });
});

t.test('each side runs its steps once and in order', async (t) => {
  const client = new ScramClient({ mechanism: 'scram-sha-256', username: 'u', password: 'p' });
  t.throws(() => client.handleServerFirst('r=x,s=c2FsdA==,i=4096'), { code: 'INTERNAL', message: 'SCRAM client: handleServerFirst called in state start' });
  client.clientFirst();
  t.throws(() => client.clientFirst(), { code: 'INTERNAL' });
  t.throws(() => client.handleServerFinal('v=AAAA'), { code: 'INTERNAL' });
  const server = serverFor({});
  t.throws(() => server.handleClientFinal('c=biws,r=x,p=AAAA'), { code: 'INTERNAL', message: 'SCRAM server: handleClientFinal called in state start' });
  server.handleClientFirst('n,,n=u,r=abc');
  t.throws(() => server.handleClientFinal('c=biws,r=nope,p=AAAA'), { code: 'AUTHENTICATION_FAILED' });
  t.throws(() => server.handleClientFinal('c=biws,r=nope,p=AAAA'), { code: 'INTERNAL' }, 'a failed exchange cannot be retried on the same conversation');
  t.throws(() => new ScramClient({ mechanism: 'scram-sha-1' as ScramMechanism, username: 'u', password: 'p' }), { code: 'INVALID_CONFIG', message: /scram-sha-256, scram-sha-512/ });
  t.throws(() => new ScramClient({ mechanism: 'scram-sha-256', username: '', password: 'p' }), { code: 'INVALID_CONFIG' });
});

t.test('a derived credential holds salt, iterations and keys, never the password', async (t) => {
  const credential = deriveScramCredential('hunter2-hunter2', 'scram-sha-512', 8192);
  t.same(Object.keys(credential).sort(), ['iterations', 'mechanism', 'salt', 'serverKey', 'storedKey']);
  t.equal(credential.iterations, 8192);
  t.equal(Buffer.from(credential.storedKey, 'base64').length, 64);
  t.notMatch(JSON.stringify(credential), /hunter2/);
  t.equal(Buffer.from(credential.salt, 'base64').length, 24);
  t.not(deriveScramCredential('hunter2-hunter2', 'scram-sha-512', 8192).salt, credential.salt, 'a fresh salt each time');
  t.same(validateScramCredential(JSON.parse(JSON.stringify(credential))), credential, 'it survives JSON');

  t.throws(() => deriveScramCredential('p', 'scram-sha-256', 1000), { code: 'INVALID_REQUEST', message: 'invalid SCRAM credential: iterations must be a whole number from 4096 to 100000, got 1000' });
  t.throws(() => deriveScramCredential('p', 'md5' as ScramMechanism), { code: 'INVALID_REQUEST', message: /unknown mechanism "md5"/ });
  const bad: Array<[unknown, RegExp]> = [
    [null, /expected an object/],
    [{ ...credential, mechanism: 'scram-sha-1' }, /mechanism must be one of scram-sha-256, scram-sha-512, got "scram-sha-1"/],
    [{ ...credential, iterations: 4096.5 }, /iterations must be a whole number/],
    [{ ...credential, iterations: '4096' }, /iterations must be a whole number/],
    [{ ...credential, salt: '' }, /salt must be non-empty base64/],
    [{ ...credential, storedKey: 'AAAA' }, /storedKey must be 64 bytes of base64 for scram-sha-512/],
    [{ ...credential, mechanism: 'scram-sha-256' }, /storedKey must be 32 bytes/],
    [{ ...credential, serverKey: `${credential.serverKey.slice(0, -4)}!!!!` }, /serverKey must be 64 bytes/],
  ];
  for (const [value, message] of bad) t.throws(() => validateScramCredential(value), { code: 'INVALID_REQUEST', message }, String(message));
});

t.test('saslname escaping round-trips any name', async (t) => {
  t.equal(escapeSaslName('a=b,c'), 'a=3Db=2Cc');
  t.equal(unescapeSaslName('=3D=2C'), '=,');
  t.equal(unescapeSaslName('=3D2C'), '=2C', 'an escaped "=" followed by 2C stays literal');
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (name) => unescapeSaslName(escapeSaslName(name)) === name && !escapeSaslName(name).includes(',')));
});
