/**
 * The published API: what the package root (`flotilla`, dist/client/index.d.ts) exports,
 * read from the emitted declarations with the TypeScript compiler, against the API that
 * SPEC section 3 and the README document. Anything else that shows up there (a member the
 * library uses internally left public, a helper re-exported from client/index.ts) is a
 * leak: applications would start to rely on it.
 */
import ts from 'typescript';

/**
 * Every name the package root exports, and for each class the public members it declares
 * itself (inherited ones, like Error's `message`, are the base class's business). Functions,
 * constants and types map to no members. Constructors are not listed.
 */
export const DOCUMENTED_API: Readonly<Record<string, readonly string[]>> = {
  // SPEC section 3.
  Client: ['admin', 'producer', 'consumer', 'close'],
  ClientOptions: [],
  // SPEC section 9.
  ClientTlsOptions: [],
  ClientLogger: [],
  Admin: [
    'createTopic', 'listTopics', 'describeTopic', 'deleteTopic', 'describeCluster',
    // README, "The client library": what the command line's operations call.
    'alterTopic', 'movePartition', 'transferLeader', 'balanceLeaders', 'removeBroker', 'listGroups', 'describeGroup', 'resetOffsets',
    // README, "Security on the native listener": users and ACLs.
    'createUser', 'setPassword', 'deleteUser', 'listUsers', 'createAcls', 'listAcls', 'deleteAcls',
  ],
  // SPEC section 9 (the sasl option) and README (users and ACLs).
  SaslOptions: [],
  UserPassword: [],
  UserListing: [],
  AclBinding: [],
  AclFilter: [],
  CreateTopicOptions: [],
  ClusterDescription: [],
  TopicDescription: [],
  PartitionDescription: [],
  TopicConfigInput: [],
  GroupListing: [],
  GroupDescription: [],
  Acks: [],
  Producer: ['send', 'sendBatch', 'flush', 'close', /* README: */ 'bufferedBytes', 'whenWritable'],
  ProducerRecord: [],
  RecordAck: [],
  ProducerOptions: [],
  Consumer: ['assign', 'subscribe', '[Symbol.asyncIterator]', 'assignment', 'commit', 'close', /* README: */ 'progress'],
  Assignment: [],
  Message: [],
  ConsumerOptions: [],
  ReadFrom: [],
  OffsetReset: [],
  // SPEC sections 3 and 4: code, retriable and details (NOT_LEADER's leader); message is Error's.
  FlotillaError: ['code', 'retriable', 'details'],
  FlotillaErrorDetails: [],
  ERROR_CODES: [],
  ErrorCode: [],
  // SPEC section 3: the same key always maps to the same partition (Kafka's murmur2).
  partitionForKey: [],
  murmur2: [],
};

/** The names exported by the declaration file `entry`, each with its public class members. */
export function publishedApi(entry: string): Map<string, string[]> {
  const program = ts.createProgram([entry], { noEmit: true, skipLibCheck: true, types: [], module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022 });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  const root = source && checker.getSymbolAtLocation(source);
  if (!root) throw new Error(`${entry} is not a module the compiler can read`);
  const api = new Map<string, string[]>();
  for (const exported of checker.getExportsOfModule(root)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const members = new Set<string>();
    for (const declaration of symbol.declarations ?? []) {
      if (!ts.isClassDeclaration(declaration)) continue;
      for (const member of declaration.members) {
        const name = publicMemberName(member);
        if (name !== null) members.add(name);
      }
    }
    api.set(exported.name, [...members]);
  }
  return api;
}

/** `name` (or `static name`), or null for a constructor, a private member or an index signature. */
function publicMemberName(member: ts.ClassElement): string | null {
  if (ts.isConstructorDeclaration(member) || !member.name || ts.isPrivateIdentifier(member.name)) return null;
  const modifiers = ts.canHaveModifiers(member) ? ts.getModifiers(member) ?? [] : [];
  if (modifiers.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)) return null;
  const name = ts.isComputedPropertyName(member.name) ? `[${member.name.expression.getText()}]` : member.name.getText();
  return modifiers.some((m) => m.kind === ts.SyntaxKind.StaticKeyword) ? `static ${name}` : name;
}

/** One line per difference between what is published and what is documented. */
export function checkPublishedApi(published: Map<string, string[]>, documented: Readonly<Record<string, readonly string[]>>): string[] {
  const problems: string[] = [];
  for (const [name, members] of published) {
    const allowed = documented[name];
    if (!allowed) {
      problems.push(`${name} is exported from the package root but not documented`);
      continue;
    }
    for (const member of members) if (!allowed.includes(member)) problems.push(`${name}.${member} is public but not documented`);
    for (const member of allowed) if (!members.includes(member)) problems.push(`${name}.${member} is documented but not published`);
  }
  for (const name of Object.keys(documented)) if (!published.has(name)) problems.push(`${name} is documented but not exported from the package root`);
  return problems;
}
