import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkDependencies, describeViolation, importGraph, scanImports } from '../lint/dependencies.js';

// Tests run from the project root (tap and npm scripts start there), compiled or not.
const repoRoot = process.cwd();

t.test('the repository keeps the dependency rule and has no import cycle', async (t) => {
  const graph = importGraph(repoRoot);
  t.ok(graph.size > 100, `scanned ${graph.size} files`);
  t.same(checkDependencies(graph).map(describeViolation), []);
});

t.test('the scanner sees every form of import and nothing in comments or strings', async (t) => {
  const source = [
    "import type { A } from './a.js';",
    "export type { B } from './b.js';",
    "export * from '../c.js';",
    "import './side-effect.js';",
    "// import { Nope } from './comment.js';",
    "const text = \"import x from './string.js'\";",
    "const lazy = await import('./dynamic.js');",
    "type T = typeof import('./type-query.js');",
    "import { EventEmitter } from 'node:events';",
  ].join('\n');
  t.same(scanImports(source), ['./a.js', './b.js', '../c.js', './side-effect.js', './dynamic.js', './type-query.js', 'node:events']);
});

t.test('a planted violation and a planted cycle are reported by file and import', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'flotilla-deps-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'protocol/codec.ts': "import type { Entry } from '../broker/raft/log.js';\nimport { crc } from '@node-rs/crc32';",
    'broker/raft/log.ts': "export type { Frame } from '../../protocol/codec.js';",
    'client/a.ts': "import { b } from './b.js';",
    'client/b.ts': "const c = await import('./c.js');",
    'client/c.ts': "import type { A } from './a.js';",
    'client/cli/main.ts': "import { startBroker } from '../../broker/raft/log.js';",
    'bench/run.ts': "import { ProcessCluster } from '../test/cluster.js';",
    'test/cluster.ts': "import { Client } from '../client/a.js';",
  };
  for (const [file, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), source);
  }
  t.same(checkDependencies(importGraph(root)).map(describeViolation), [
    'bench/run.ts imports test/cluster.ts: bench/ may not import test/',
    'protocol/codec.ts imports broker/raft/log.ts: protocol/ may not import broker/',
    'import cycle: broker/raft/log.ts → protocol/codec.ts → broker/raft/log.ts',
    'import cycle: client/a.ts → client/b.ts → client/c.ts → client/a.ts',
  ]);
});

t.test('rooms: the client library may not import the command line, and files outside every room are named', async (t) => {
  const graph = new Map([
    ['client/producer/producer.ts', ['client/cli/format.ts', 'protocol/errors.ts']],
    ['client/cli/format.ts', ['bench/stats.ts', 'broker/config.ts']],
    ['bench/stats.ts', []],
    ['broker/config.ts', ['client/validate.ts']],
    ['client/validate.ts', []],
    ['protocol/errors.ts', []],
    ['scripts/release.ts', []],
  ]);
  t.same(checkDependencies(graph).map(describeViolation), [
    'broker/config.ts imports client/validate.ts: broker/ may not import client/',
    'client/producer/producer.ts imports client/cli/format.ts: client/ may not import client/cli/',
    'scripts/release.ts is in no room of the dependency rule',
  ]);
});
