/**
 * `flotilla user ...` and `flotilla acl ...` (SPEC section 9). Passwords come from stdin
 * (--password-stdin) or a no-echo prompt on a terminal, never from argv; each is turned
 * into its SCRAM credential in this process (Admin.createUser), so it never travels.
 */
import { Command, Option } from 'commander';
import { ACL_OPERATIONS, ANY_USER, CLUSTER_NAME, describeResource, formatAcl, PRINCIPAL_PREFIX, type AclBinding, type AclFilter, type AclOperation, type PatternType, type Permission, type ResourceType } from '../../protocol/acls.js';
import { DEFAULT_SCRAM_ITERATIONS, SCRAM_MECHANISMS, type ScramMechanism } from '../../protocol/scram.js';
import { action, globalsOf, printJsonOrTable, UsageError, withClient, withoutLineEnd } from './context.js';
import { formatTable, parsePositiveInt } from './format.js';

export function registerSecurityCommands(program: Command): void {
  registerUserCommands(program);
  registerAclCommands(program);
}

// ----------------------------------------------------------------------------- users

function registerUserCommands(program: Command): void {
  const user = program.command('user').description('SCRAM users (needs alter on the cluster)');
  user
    .command('create')
    .description('create a user; the password is read from stdin (--password-stdin) or prompted for')
    .argument('<name>')
    .addOption(new Option('--mechanism <mechanism>', 'SCRAM mechanism of the credential').choices(SCRAM_MECHANISMS).default('scram-sha-256'))
    .option('--iterations <n>', 'PBKDF2 iterations of the credential (4096 to 100000)', parsePositiveInt, DEFAULT_SCRAM_ITERATIONS)
    .option('--password-stdin', 'read the password from stdin (its final newline is dropped)')
    .action(
      action(async (name: string, options: PasswordOptions, command: Command) => {
        const password = await readNewPassword(name, options);
        await withClient(globalsOf(command), (client) => client.admin().createUser({ name, password, mechanism: options.mechanism, iterations: options.iterations }));
        process.stderr.write(`created user ${name}\n`);
      }),
    );
  user
    .command('set-password')
    .description("replace a user's password (its open connections are closed)")
    .argument('<name>')
    .addOption(new Option('--mechanism <mechanism>', 'SCRAM mechanism of the credential').choices(SCRAM_MECHANISMS).default('scram-sha-256'))
    .option('--iterations <n>', 'PBKDF2 iterations of the credential (4096 to 100000)', parsePositiveInt, DEFAULT_SCRAM_ITERATIONS)
    .option('--password-stdin', 'read the password from stdin (its final newline is dropped)')
    .action(
      action(async (name: string, options: PasswordOptions, command: Command) => {
        const password = await readNewPassword(name, options);
        await withClient(globalsOf(command), (client) => client.admin().setPassword({ name, password, mechanism: options.mechanism, iterations: options.iterations }));
        process.stderr.write(`changed the password of user ${name}\n`);
      }),
    );
  user
    .command('delete')
    .description('delete a user (its open connections are closed; its ACLs stay)')
    .argument('<name>')
    .action(
      action(async (name: string, _options, command: Command) => {
        await withClient(globalsOf(command), (client) => client.admin().deleteUser(name));
        process.stderr.write(`deleted user ${name}\n`);
      }),
    );
  user
    .command('list')
    .description('users with their mechanism and iterations (never salts or keys)')
    .action(
      action(async (_options, command: Command) => {
        const globals = globalsOf(command);
        const users = await withClient(globals, (client) => client.admin().listUsers());
        await printJsonOrTable(globals, users, () => formatTable(['NAME', 'MECHANISM', 'ITERATIONS'], users.map((u) => [u.name, u.mechanism, u.iterations])));
      }),
    );
}

interface PasswordOptions {
  mechanism: ScramMechanism;
  iterations: number;
  passwordStdin?: boolean;
}

/** From stdin with --password-stdin; else typed twice at a no-echo prompt; else a usage error. */
async function readNewPassword(name: string, options: PasswordOptions): Promise<string> {
  let password: string;
  if (options.passwordStdin) {
    password = withoutLineEnd(await readAll(process.stdin));
  } else if (process.stdin.isTTY) {
    password = await promptHidden(`password for ${name}: `);
    if ((await promptHidden('again: ')) !== password) throw new UsageError('the two passwords differ');
  } else {
    throw new UsageError('stdin is not a terminal: give the password on stdin with --password-stdin');
  }
  if (password === '') throw new UsageError('the password is empty');
  return password;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal without echoing it; Ctrl-C or Ctrl-D gives up. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003' || char === '\u0004') return finish(new UsageError('no password given'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

// ------------------------------------------------------------------------------ ACLs

function registerAclCommands(program: Command): void {
  const acl = program
    .command('acl')
    .description('access control lists (needs alter on the cluster)')
    .addHelpText(
      'after',
      `
No matching ACL means deny; a deny wins over an allow; describe is implied by any other
operation on the same resource. Examples:
  flotilla acl create --allow User:alice --operation read,write --topic orders
  flotilla acl create --allow User:alice --operation read --topic orders. --prefixed
  flotilla acl create --allow User:alice --producer --topic orders
  flotilla acl create --allow User:bob --consumer --topic orders --group billing
  flotilla acl list --principal User:alice
  flotilla acl delete --principal User:alice --topic orders`,
    );
  acl
    .command('create')
    .description('allow or deny operations on a topic, a group or the cluster')
    .option('--allow <principal>', `User:NAME, or ${ANY_USER} for every user`)
    .option('--deny <principal>', `User:NAME, or ${ANY_USER} for every user`)
    .option('--operation <list>', `comma-separated: ${ACL_OPERATIONS.join(', ')}`)
    .option('--topic <topic>', 'on this topic (* for every topic)')
    .option('--group <group>', 'on this consumer group (* for every group)')
    .option('--cluster', 'on the cluster (topic creation, placement, users and ACLs)')
    .option('--prefixed', 'the topic or group name is a prefix: every name that starts with it')
    .option('--producer', 'allow write and describe on --topic (enough for an idempotent producer too)')
    .option('--consumer', 'allow read on --topic and on --group')
    .action(
      action(async (options: AclCreateOptions, command: Command) => {
        const bindings = bindingsOf(options);
        await withClient(globalsOf(command), (client) => client.admin().createAcls(bindings));
        for (const binding of bindings) process.stderr.write(`created ACL: ${formatAcl(binding)}\n`);
      }),
    );
  acl
    .command('list')
    .description('ACLs matching every filter given (none: all ACLs)')
    .option('--principal <principal>', 'User:NAME or User:*')
    .option('--topic <topic>', 'ACLs on this topic name (or prefix, or *)')
    .option('--group <group>', 'ACLs on this group name (or prefix, or *); with --topic, ACLs on either')
    .action(
      action(async (options: AclFilterOptions, command: Command) => {
        const globals = globalsOf(command);
        const filters = filtersOf(options);
        const bindings = await withClient(globals, async (client) => (await Promise.all(filters.map((f) => client.admin().listAcls(f)))).flat());
        await printJsonOrTable(globals, bindings, () =>
          formatTable(['PRINCIPAL', 'PERMISSION', 'OPERATION', 'RESOURCE'], bindings.map((b) => [b.principal, b.permission, b.operation, describeResource(b.resourceType, b.resourceName, b.patternType)])),
        );
      }),
    );
  acl
    .command('delete')
    .description('delete the ACLs matching every filter given (at least one)')
    .option('--principal <principal>', 'User:NAME or User:*')
    .option('--topic <topic>', 'ACLs on this topic name (or prefix, or *)')
    .option('--group <group>', 'ACLs on this group name (or prefix, or *); with --topic, ACLs on either')
    .action(
      action(async (options: AclFilterOptions, command: Command) => {
        if (options.principal === undefined && options.topic === undefined && options.group === undefined) {
          throw new UsageError('acl delete needs at least one of --principal, --topic, --group (it would delete every ACL)');
        }
        const filters = filtersOf(options);
        const deleted = await withClient(globalsOf(command), async (client) => (await Promise.all(filters.map((f) => client.admin().deleteAcls(f)))).flat());
        for (const binding of deleted) process.stderr.write(`deleted ACL: ${formatAcl(binding)}\n`);
        if (deleted.length === 0) process.stderr.write('no ACL matched\n');
      }),
    );
}

interface AclCreateOptions {
  allow?: string;
  deny?: string;
  operation?: string;
  topic?: string;
  group?: string;
  cluster?: boolean;
  prefixed?: boolean;
  producer?: boolean;
  consumer?: boolean;
}

interface AclFilterOptions {
  principal?: string;
  topic?: string;
  group?: string;
}

/** The bindings `acl create` asks for; every misuse of the flags is a usage error naming it. */
function bindingsOf(options: AclCreateOptions): AclBinding[] {
  if ((options.allow === undefined) === (options.deny === undefined)) throw new UsageError('acl create needs exactly one of --allow User:NAME and --deny User:NAME');
  const permission: Permission = options.allow !== undefined ? 'allow' : 'deny';
  const principal = checkPrincipal((options.allow ?? options.deny)!);
  const patternType: PatternType = options.prefixed ? 'prefixed' : 'literal';
  const binding = (operation: AclOperation, resourceType: ResourceType, resourceName: string): AclBinding => ({
    principal, permission, operation, resourceType, resourceName, patternType: resourceType === 'cluster' ? 'literal' : patternType,
  });

  if (options.producer || options.consumer) {
    const which = options.producer ? '--producer' : '--consumer';
    if (options.producer && options.consumer) throw new UsageError('give --producer or --consumer, not both (run acl create twice)');
    if (permission === 'deny') throw new UsageError(`${which} only allows; deny with --deny and --operation`);
    if (options.operation !== undefined || options.cluster) throw new UsageError(`${which} picks the operations itself: drop --operation and --cluster`);
    if (options.topic === undefined) throw new UsageError(`${which} needs --topic`);
    if (options.producer) {
      if (options.group !== undefined) throw new UsageError('--producer takes no --group');
      return [binding('write', 'topic', options.topic), binding('describe', 'topic', options.topic)];
    }
    if (options.group === undefined) throw new UsageError('--consumer needs --group');
    return [binding('read', 'topic', options.topic), binding('read', 'group', options.group)];
  }

  const resources = [options.topic !== undefined, options.group !== undefined, Boolean(options.cluster)].filter(Boolean).length;
  if (resources !== 1) throw new UsageError('acl create needs exactly one of --topic T, --group G, --cluster (or --producer / --consumer)');
  if (options.cluster && options.prefixed) throw new UsageError('--prefixed applies to --topic or --group, not --cluster');
  if (options.operation === undefined) throw new UsageError(`acl create needs --operation (comma-separated: ${ACL_OPERATIONS.join(', ')})`);
  const operations = [...new Set(options.operation.split(',').map((o) => o.trim()))];
  for (const operation of operations) {
    if (!ACL_OPERATIONS.includes(operation as AclOperation)) throw new UsageError(`--operation: "${operation}" is not one of ${ACL_OPERATIONS.join(', ')}`);
  }
  const [resourceType, resourceName]: [ResourceType, string] =
    options.topic !== undefined ? ['topic', options.topic] : options.group !== undefined ? ['group', options.group] : ['cluster', CLUSTER_NAME];
  return operations.map((operation) => binding(operation as AclOperation, resourceType, resourceName));
}

/** One filter per resource given: --topic and --group together select ACLs on either. */
function filtersOf(options: AclFilterOptions): AclFilter[] {
  const principal = options.principal === undefined ? {} : { principal: checkPrincipal(options.principal) };
  const filters: AclFilter[] = [];
  if (options.topic !== undefined) filters.push({ ...principal, resourceType: 'topic', resourceName: options.topic });
  if (options.group !== undefined) filters.push({ ...principal, resourceType: 'group', resourceName: options.group });
  return filters.length > 0 ? filters : [principal];
}

function checkPrincipal(principal: string): string {
  if (!principal.startsWith(PRINCIPAL_PREFIX) || principal.length === PRINCIPAL_PREFIX.length) {
    throw new UsageError(`a principal is User:NAME or ${ANY_USER}, got "${principal}"`);
  }
  return principal;
}
