/**
 * The error codes of the external contract (SPEC section 4), shared by broker and client.
 * One table: each code has a stable number for the wire, a `retriable` flag that retry
 * logic reads (never the message text), and a default message that says what to do.
 */

export const ERROR_CODES = {
  NOT_LEADER: { wire: 1, retriable: true, message: 'this broker does not lead the partition; refresh metadata and retry at the leader' },
  LEADER_NOT_AVAILABLE: { wire: 2, retriable: true, message: 'the partition has no leader right now (election in progress); retry shortly' },
  NOT_CONTROLLER: { wire: 3, retriable: true, message: 'this broker is not the controller leader; retry at the controller' },
  UNKNOWN_TOPIC: { wire: 4, retriable: false, message: 'no such topic; create it first (topics are never created implicitly)' },
  TOPIC_EXISTS: { wire: 5, retriable: false, message: 'a topic with this name already exists' },
  UNKNOWN_PARTITION: { wire: 6, retriable: false, message: 'no such partition on this broker' },
  OFFSET_OUT_OF_RANGE: { wire: 7, retriable: false, message: 'the offset is outside the stored range of the log' },
  INVALID_REQUEST: { wire: 8, retriable: false, message: 'the request is malformed' },
  INVALID_CONFIG: { wire: 9, retriable: false, message: 'the configuration is invalid' },
  FRAME_TOO_LARGE: { wire: 10, retriable: false, message: 'the frame exceeds the maximum frame size' },
  RECORD_TOO_LARGE: { wire: 11, retriable: false, message: 'the record or batch exceeds the maximum size' },
  CORRUPT_BATCH: { wire: 12, retriable: false, message: 'the record batch failed its size or CRC check' },
  NOT_ENOUGH_REPLICAS: { wire: 13, retriable: true, message: 'too few replicas are available to accept the write' },
  TIMEOUT: { wire: 14, retriable: true, message: 'the operation did not finish in time; its outcome is unknown' },
  OUT_OF_ORDER_SEQUENCE: { wire: 15, retriable: false, message: 'the producer sequence number is out of order' },
  UNKNOWN_PRODUCER: { wire: 16, retriable: false, message: 'the broker has no state for this producer id' },
  BROKER_NOT_AVAILABLE: { wire: 17, retriable: true, message: 'the broker cannot be reached' },
  SHUTTING_DOWN: { wire: 18, retriable: true, message: 'the broker is shutting down; retry at another broker' },
  UNKNOWN_GROUP: { wire: 19, retriable: false, message: 'no such consumer group' },
  REBALANCE_IN_PROGRESS: { wire: 20, retriable: true, message: 'the consumer group is rebalancing; rejoin' },
  UNSUPPORTED_VERSION: { wire: 21, retriable: false, message: 'the API version is not supported by this broker' },
  INTERNAL: { wire: 22, retriable: false, message: 'internal error in the broker; see its log' },
  BROKER_BUSY: { wire: 23, retriable: true, message: 'the broker is out of open files for now; the operation did not happen; retry shortly' },
  REPLICA_NOT_AVAILABLE: { wire: 24, retriable: true, message: 'this replica cannot serve that range now (it found a corrupt batch and is repairing it); read another replica or retry' },
  DISK_FULL: { wire: 25, retriable: true, message: 'the broker\'s disk is full: the write was not stored; retry (a replica with space takes the partition over) or free space on that broker' },
  AUTHENTICATION_FAILED: { wire: 26, retriable: false, message: 'authentication failed: check the user name, password (or certificate) and SASL mechanism' },
  NOT_AUTHORIZED: { wire: 27, retriable: false, message: 'the principal is not allowed this operation; ask an administrator for an ACL' },
  USER_EXISTS: { wire: 28, retriable: false, message: 'a user with this name already exists; use set-password to change its password' },
  UNKNOWN_USER: { wire: 29, retriable: false, message: 'no such user' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const codeByWire = new Map<number, ErrorCode>(
  (Object.keys(ERROR_CODES) as ErrorCode[]).map((code) => [ERROR_CODES[code].wire, code]),
);

export interface FlotillaErrorDetails {
  /** NOT_LEADER: the leader's broker id and address, when known. */
  leaderId?: number;
  leaderAddress?: string;
  [key: string]: unknown;
}

export class FlotillaError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: FlotillaErrorDetails;

  constructor(code: ErrorCode, message?: string, details: FlotillaErrorDetails = {}, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code].message, options);
    this.name = 'FlotillaError';
    this.code = code;
    this.retriable = ERROR_CODES[code].retriable;
    this.details = details;
  }
}

// The wire numbers are the codec's business, so they are functions here rather than
// members of the FlotillaError that applications see.

export function wireCodeOf(error: FlotillaError): number {
  return ERROR_CODES[error.code].wire;
}

/** Decodes a code number from the wire; an unknown number becomes INTERNAL. */
export function errorFromWire(wire: number, message?: string, details?: FlotillaErrorDetails): FlotillaError {
  return new FlotillaError(codeByWire.get(wire) ?? 'INTERNAL', message || undefined, details);
}

/**
 * `error` itself when it is a FlotillaError, else INTERNAL: `what` (which side failed)
 * and the error's message, with the error kept as the cause.
 */
export function toFlotillaError(error: unknown, what: string): FlotillaError {
  if (error instanceof FlotillaError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new FlotillaError('INTERNAL', `${what}: ${message}`, {}, { cause: error });
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CODES, value);
}
