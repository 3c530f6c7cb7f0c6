/**
 * Pure formatting and argument parsing for the CLI (kept apart so tests need no process).
 */
import { InvalidArgumentError } from 'commander';
import type { Message } from '../consumer/messages.js';

/** One `consume --format json` line: key null when absent; --binary switches key and value to base64. */
export function messageToJson(message: Message, binary: boolean): string {
  const encoding = binary ? 'base64' : 'utf8';
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) headers[name] = value.toString('utf8');
  return JSON.stringify({
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key === null ? null : message.key.toString(encoding),
    value: message.value === null ? null : message.value.toString(encoding),
    headers,
  });
}

/** `consume --format text`: the value alone (base64 with --binary); a null value prints as an empty line. */
export function messageToText(message: Message, binary: boolean): string {
  return message.value === null ? '' : message.value.toString(binary ? 'base64' : 'utf8');
}

/** The line printer for `consume --format`. */
export function messageFormatter(format: 'text' | 'json', binary: boolean): (message: Message) => string {
  return format === 'json' ? (m) => messageToJson(m, binary) : (m) => messageToText(m, binary);
}

/** A size for --help: whole MiB as "16 MiB", else bytes. */
export function bytesText(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes}`;
}

/** A duration for --help: "10 min", "30 s", else milliseconds. */
export function durationText(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** A plain text table: a header row and left-aligned columns separated by two spaces. */
export function formatTable(header: string[], rows: Array<Array<string | number | boolean | null>>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

// ------------------------------------------------------------------ argument parsers
// Each throws commander's InvalidArgumentError, which the CLI turns into exit status 2.

export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected a whole number >= 0, got "${value}"`);
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = parseNonNegativeInt(value);
  if (n < 1) throw new InvalidArgumentError(`expected a whole number >= 1, got "${value}"`);
  return n;
}

/** Config values: a whole number, or -1 for "no limit". */
export function parseLimit(value: string): number {
  if (value === '-1') return -1;
  return parseNonNegativeInt(value);
}

/** Where to start reading: earliest, latest, an offset, or a time: `@MS` (ms since the epoch) or an ISO 8601 date-time. */
export type StartOffset = number | 'earliest' | 'latest' | { timestamp: number };

export const OFFSET_HELP = 'earliest, latest, an offset, or the first record at or after a time: @MS (ms since the epoch) or an ISO 8601 time such as 2026-12-03T10:00:00Z';

export function parseOffset(value: string): StartOffset {
  if (value === 'earliest' || value === 'latest') return value;
  if (/^\d+$/.test(value)) return parseNonNegativeInt(value);
  if (/^@\d+$/.test(value)) return { timestamp: parseNonNegativeInt(value.slice(1)) };
  // ISO 8601 as Date.parse reads it (a time without a zone is local time, a date alone UTC).
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isSafeInteger(ms) && ms >= 0) return { timestamp: ms };
  throw new InvalidArgumentError(`expected earliest, latest, an offset (a whole number), @MS or an ISO 8601 time, got "${value}"`);
}

export function parseReadFrom(value: string): 'any' | 'leader' | number {
  if (value === 'any' || value === 'leader') return value;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`expected any, leader or a broker id, got "${value}"`);
  return Number(value);
}

export function parseAcks(value: string): 'all' | 'leader' | 'none' {
  if (value === 'all' || value === 'leader' || value === 'none') return value;
  throw new InvalidArgumentError(`expected all, leader or none, got "${value}"`);
}

export function parseBrokerList(value: string): string[] {
  const brokers = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (brokers.length === 0) throw new InvalidArgumentError('expected HOST:PORT[,HOST:PORT...]');
  for (const b of brokers) {
    if (!/^.+:\d+$/.test(b)) throw new InvalidArgumentError(`expected HOST:PORT, got "${b}"`);
  }
  return brokers;
}

export function parseIdList(value: string): number[] {
  return value.split(',').map((s) => parsePositiveInt(s.trim()));
}
