/**
 * The dependency rule: which folders ("rooms") of the repository may import which, and no
 * import cycle between files. `checkDependencies` is a pure function over a graph of
 * {file -> imported files}; `scanImports` and `importGraph` build that graph from source.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

/** Repository-relative path with forward slashes, e.g. `broker/server/server.ts`. */
export type SourcePath = string;
export type ImportGraph = ReadonlyMap<SourcePath, readonly SourcePath[]>;

export interface Room {
  /** Folder prefix; the longest matching prefix names a file's room. */
  folder: string;
  /** Rooms this one may import, besides itself. */
  mayImport: readonly string[];
}

export const ROOMS: readonly Room[] = [
  { folder: 'protocol', mayImport: [] },
  { folder: 'client', mayImport: ['protocol'] },
  // The command line is the composition root: it starts brokers and runs benchmarks.
  { folder: 'client/cli', mayImport: ['client', 'protocol', 'broker', 'bench'] },
  { folder: 'broker', mayImport: ['protocol'] },
  { folder: 'bench', mayImport: ['client', 'protocol', 'broker'] },
  { folder: 'test', mayImport: ['client/cli', 'client', 'protocol', 'broker', 'bench'] },
];

export const SCANNED_FOLDERS = ['protocol', 'client', 'broker', 'bench', 'test'];

export type Violation =
  | { kind: 'forbidden'; file: SourcePath; imports: SourcePath; fromRoom: string; toRoom: string }
  | { kind: 'outside-rooms'; file: SourcePath }
  | { kind: 'cycle'; path: SourcePath[] };

export function roomOf(file: SourcePath, rooms: readonly Room[] = ROOMS): Room | undefined {
  let best: Room | undefined;
  for (const room of rooms) {
    if (file.startsWith(`${room.folder}/`) && (!best || room.folder.length > best.folder.length)) best = room;
  }
  return best;
}

export function describeViolation(v: Violation): string {
  switch (v.kind) {
    case 'forbidden':
      return `${v.file} imports ${v.imports}: ${v.fromRoom}/ may not import ${v.toRoom}/`;
    case 'outside-rooms':
      return `${v.file} is in no room of the dependency rule`;
    case 'cycle':
      return `import cycle: ${v.path.join(' → ')}`;
  }
}

/** Every rule violation and every import cycle in the graph, in a stable order. */
export function checkDependencies(graph: ImportGraph, rooms: readonly Room[] = ROOMS): Violation[] {
  const violations: Violation[] = [];
  const files = [...graph.keys()].sort();
  for (const file of files) {
    const from = roomOf(file, rooms);
    if (!from) {
      violations.push({ kind: 'outside-rooms', file });
      continue;
    }
    for (const target of graph.get(file)!) {
      const to = roomOf(target, rooms);
      if (!to) continue; // reported once as the target's own violation when scanned
      if (to !== from && !from.mayImport.includes(to.folder)) {
        violations.push({ kind: 'forbidden', file, imports: target, fromRoom: from.folder, toRoom: to.folder });
      }
    }
  }
  for (const path of findCycles(graph)) violations.push({ kind: 'cycle', path });
  return violations;
}

/**
 * One cycle per back edge of a depth-first search, each written as a path that starts and
 * ends at its smallest file. An empty result means the graph is acyclic.
 */
export function findCycles(graph: ImportGraph): SourcePath[][] {
  const state = new Map<SourcePath, 'open' | 'done'>();
  const stack: SourcePath[] = [];
  const found = new Map<string, SourcePath[]>();
  const visit = (file: SourcePath): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of [...(graph.get(file) ?? [])].sort()) {
      const s = state.get(next);
      if (s === 'open') {
        const loop = stack.slice(stack.indexOf(next));
        const start = loop.indexOf([...loop].sort()[0]!);
        const rotated = [...loop.slice(start), ...loop.slice(0, start)];
        found.set(rotated.join('\n'), [...rotated, rotated[0]!]);
      } else if (s === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return [...found.keys()].sort().map((key) => found.get(key)!);
}

/**
 * The module specifiers a TypeScript source imports: static imports and re-exports
 * (type-only ones too), side-effect imports, dynamic `import()` and `import('x')` types.
 */
export function scanImports(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** Resolves a relative specifier of `file` to a repository path; npm and node: imports give undefined. */
export function resolveImport(file: SourcePath, specifier: string): SourcePath | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const joined = posix.normalize(posix.join(posix.dirname(file), specifier));
  return joined.endsWith('.js') ? `${joined.slice(0, -'.js'.length)}.ts` : joined;
}

/** The graph of every .ts file under `folders` of `root`, from its sources. */
export function importGraph(root: string, folders: readonly string[] = SCANNED_FOLDERS): Map<SourcePath, SourcePath[]> {
  const graph = new Map<SourcePath, SourcePath[]>();
  for (const folder of folders) {
    for (const abs of tsFiles(join(root, folder))) {
      const file = relative(root, abs).split(sep).join('/');
      const imports = scanImports(readFileSync(abs, 'utf8'))
        .map((specifier) => resolveImport(file, specifier))
        .filter((target): target is SourcePath => target !== undefined);
      graph.set(file, [...new Set(imports)]);
    }
  }
  return graph;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}
