import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { checkPublishedApi, DOCUMENTED_API, publishedApi } from '../lint/public-api.js';

// Tests run from the project root (tap and npm scripts start there), compiled or not.
const repoRoot = process.cwd();

t.test('the package root publishes exactly the documented API', async (t) => {
  // The declarations `npm run build` emits (npm test builds first).
  const entry = join(repoRoot, 'dist', 'client', 'index.d.ts');
  t.ok(existsSync(entry), 'dist/client/index.d.ts exists (run npm run build first)');
  const published = publishedApi(entry);
  t.same(published.get('Consumer')?.sort(), ['[Symbol.asyncIterator]', 'assign', 'assignment', 'close', 'commit', 'progress', 'subscribe'], 'the consumer is read member by member');
  t.same(checkPublishedApi(published, DOCUMENTED_API), []);
});

t.test('a planted leak is reported: an internal member made public, an internal class re-exported', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'flotilla-api-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'src/reader.ts': 'export class Reader {\n  positionOf(key: string): number | undefined { return key.length; }\n}\n',
    'src/consumer.ts': [
      "import { Reader } from './reader.js';",
      'export class Consumer {',
      '  private readonly reader = new Reader();',
      '  #closed = false;',
      '  assign(): void {}',
      '  subscribe(): void {}',
      '  assignment(): string[] { return []; }',
      '  commit(): void {}',
      '  async close(): Promise<void> { this.#closed = true; }',
      '  async *[Symbol.asyncIterator](): AsyncIterator<number> { if (!this.#closed) yield 1; }',
      '  progress(): number { return 0; }',
      '  /** @internal */',
      '  positionOf(key: string): number | undefined { return this.reader.positionOf(key); }',
      '  static fromReader(): Consumer { return new Consumer(); }',
      '}',
    ].join('\n'),
    'src/index.ts': "export { Consumer } from './consumer.js';\nexport { Reader } from './reader.js';\nexport function murmur2(data: Uint8Array): number { return data.length; }\n",
  };
  for (const [file, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), source);
  }
  // Compile the fixture the way the build does, so the check reads real emitted declarations.
  const program = ts.createProgram(Object.keys(files).map((f) => join(root, f)), {
    declaration: true, emitDeclarationOnly: true, outDir: join(root, 'dist'), rootDir: join(root, 'src'), types: [],
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, lib: ['lib.es2022.d.ts'],
  });
  const emitted = program.emit();
  t.same(ts.getPreEmitDiagnostics(program).concat(emitted.diagnostics).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), [], 'the fixture compiles');

  const documented = { Consumer: DOCUMENTED_API.Consumer!, murmur2: [], partitionForKey: [] };
  t.same(checkPublishedApi(publishedApi(join(root, 'dist', 'index.d.ts')), documented), [
    'Consumer.positionOf is public but not documented',
    'Consumer.static fromReader is public but not documented',
    'Reader is exported from the package root but not documented',
    'partitionForKey is documented but not exported from the package root',
  ]);
});
