/**
 * Turns protocol/*.proto into checked-in TypeScript: the protobufjs JSON descriptor (loaded
 * at run time with `Root.fromJSON`, so the tsc-only build needs no .proto files and no
 * generated JavaScript) and one interface per message. Rerun after editing a .proto:
 *
 *   npx tsc -p tsconfig.json && node dist/protocol/codegen.js
 *
 * The unit tests regenerate in memory and fail when the checked-in files are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const SCHEMAS = ['client', 'peer'] as const;
export type SchemaName = (typeof SCHEMAS)[number];

/** The protocol/ source folder, whether running from source (tap) or from dist/. */
export function protocolSourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return basename(dirname(here)) === 'dist' ? join(dirname(dirname(here)), 'protocol') : here;
}

const SCALAR_TS: Record<string, string> = {
  double: 'number', float: 'number',
  int32: 'number', uint32: 'number', sint32: 'number', fixed32: 'number', sfixed32: 'number',
  // 64-bit integers decode as JS numbers: protocol/protobuf.ts disables Long.
  int64: 'number', uint64: 'number', sint64: 'number', fixed64: 'number', sfixed64: 'number',
  bool: 'boolean', string: 'string', bytes: 'Buffer',
};

function isSyntheticOneof(oneof: protobuf.OneOf): boolean {
  return oneof.fieldsArray.length === 1 && oneof.fieldsArray[0]!.options?.['proto3_optional'] === true;
}

function fieldType(field: protobuf.Field): string {
  if (field instanceof protobuf.MapField) throw new Error(`map fields are not supported (${field.fullName})`);
  const resolved = field.resolvedType;
  const base = resolved ? resolved.name : SCALAR_TS[field.type];
  if (!base) throw new Error(`unknown type ${field.type} of ${field.fullName}`);
  return base;
}

function renderEnum(e: protobuf.Enum): string {
  const entries = Object.entries(e.values).map(([name, value]) => `  ${name}: ${value},`);
  return [
    commentOf(e),
    `export const ${e.name} = {`,
    ...entries,
    '} as const;',
    `export type ${e.name} = (typeof ${e.name})[keyof typeof ${e.name}];`,
  ].filter(Boolean).join('\n');
}

function renderType(type: protobuf.Type): string {
  const lines: string[] = [];
  for (const field of type.fieldsArray) {
    const ts = fieldType(field);
    const doc = field.comment ? `  /** ${field.comment.replace(/\s+/g, ' ')} */\n` : '';
    // Decoded messages read unset message, optional and oneof fields as null.
    const nullable = field.resolvedType instanceof protobuf.Type || field.partOf !== null;
    const decl = field.repeated ? `${ts}[]` : nullable ? `${ts} | null` : ts;
    lines.push(`${doc}  ${field.name}: ${decl};`);
  }
  for (const oneof of type.oneofsArray) {
    if (isSyntheticOneof(oneof)) continue;
    const names = oneof.fieldsArray.map((f) => `'${f.name}'`).join(' | ');
    lines.push(`  /** Which member of the oneof is set (undefined: none). */\n  ${oneof.name}?: ${names};`);
  }
  return [commentOf(type), `export interface ${type.name} {`, ...lines, '}'].filter(Boolean).join('\n');
}

function commentOf(object: protobuf.ReflectionObject): string {
  return object.comment ? `/** ${object.comment.replace(/\s+/g, ' ')} */` : '';
}

/** The TypeScript text of protocol/<name>.schema.ts, from protocol/<name>.proto. */
export function generateSchema(name: SchemaName, protoDir = protocolSourceDir()): string {
  const source = readFileSync(join(protoDir, `${name}.proto`), 'utf8');
  const parsed = protobuf.parse(source, { alternateCommentMode: true });
  const root = parsed.root.resolveAll();
  const pkg = root.lookup(parsed.package!) as protobuf.Namespace;
  const parts: string[] = [];
  for (const nested of pkg.nestedArray) {
    if (nested instanceof protobuf.Type) parts.push(renderType(nested));
    else if (nested instanceof protobuf.Enum) parts.push(renderEnum(nested));
    else throw new Error(`unsupported definition ${nested.fullName}`);
  }
  const descriptor = JSON.stringify(protobuf.parse(source).root.toJSON({ keepComments: false }), null, 1);
  return [
    `// Generated from protocol/${name}.proto by protocol/codegen.ts. Do not edit.`,
    '/* eslint-disable */',
    "import type { INamespace } from 'protobufjs/light.js';",
    '',
    `export const PACKAGE = '${parsed.package}';`,
    '',
    '/** protobufjs JSON descriptor, for Root.fromJSON. */',
    `export const descriptor = ${descriptor} as INamespace;`,
    '',
    parts.join('\n\n'),
    '',
  ].join('\n');
}

function main(): void {
  const dir = protocolSourceDir();
  for (const name of SCHEMAS) writeFileSync(join(dir, `${name}.schema.ts`), generateSchema(name, dir));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
