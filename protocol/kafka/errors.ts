/**
 * The one error the Kafka codec throws. It names the api, the version and the field (a
 * path such as `topics[2].partitions[0].records`) so a bad frame can be told apart from a
 * bug, and it says which answer a listener owes the client:
 * - `UNSUPPORTED_VERSION`: the header was readable but the (api, version) is not in the
 *   table; `correlationId` is set, and Kafka clients expect an error response (for
 *   ApiVersions, a v0 response listing the supported versions).
 * - `MALFORMED`: truncated, garbage or out-of-range bytes (or, when encoding, a value the
 *   version cannot carry); a broker closes the connection.
 */
export type KafkaCodecFailure = 'UNSUPPORTED_VERSION' | 'MALFORMED';

export interface KafkaCodecErrorContext {
  failure: KafkaCodecFailure;
  /** e.g. `Fetch`, or `api key 99` when the key is unknown; absent before the header is read. */
  api?: string;
  version?: number;
  /** Field path inside the message, e.g. `topics[0].partitions[1].fetchOffset`. */
  field?: string;
  correlationId?: number;
}

export class KafkaCodecError extends Error {
  readonly failure: KafkaCodecFailure;
  readonly api: string | undefined;
  readonly version: number | undefined;
  readonly field: string | undefined;
  readonly correlationId: number | undefined;

  constructor(reason: string, context: KafkaCodecErrorContext, options?: { cause?: unknown }) {
    super(`${describeWhere(context)}: ${reason}`, options);
    this.name = 'KafkaCodecError';
    this.failure = context.failure;
    this.api = context.api;
    this.version = context.version;
    this.field = context.field;
    this.correlationId = context.correlationId;
  }
}

function describeWhere({ api, version, field }: KafkaCodecErrorContext): string {
  const parts = [api === undefined ? 'kafka frame' : version === undefined ? api : `${api} v${version}`];
  if (field) parts.push(`field ${field}`);
  return parts.join(' ');
}

/**
 * What the primitive readers and writers throw: only the reason. The message codec adds
 * the api, version and field path and rethrows it as a KafkaCodecError.
 */
export class WireFault extends Error {
  override readonly name = 'WireFault';
}
