// length-prefixed-stream 2.0.0 ships no types and no @types package exists.
declare module 'length-prefixed-stream' {
  import type { Transform } from 'node:stream';

  export interface DecodeOptions {
    /** Largest accepted frame in bytes; 0 (the default) means unlimited: always set it. */
    limit?: number;
    /** Emit zero-length frames instead of dropping them (switches to object mode). */
    allowEmpty?: boolean;
  }

  export function decode(options?: DecodeOptions): Transform;
  export function encode(): Transform;

  const lps: { decode: typeof decode; encode: typeof encode };
  export default lps;
}
