/**
 * Which TLS failures are a matter of trust, shared by the client and the broker (which
 * dials its peers): a certificate the other side did not accept, or one we did not. Those
 * are AUTHENTICATION_FAILED (not retriable: trying again cannot fix a certificate); any
 * other failure of a TLS connection is a network failure like a plaintext one.
 */
import { FlotillaError } from './errors.js';

/** OpenSSL's verification results as Node names them (X509_V_ERR_* without the prefix). */
const VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Alerts the other side sends when it refuses our certificate (or that we have none). */
const REFUSED_ALERT = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(?:BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|UNKNOWN_CA|ACCESS_DENIED|CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE)$/;

/** True when `error` says a certificate was not trusted, by us or by the other side. */
export function isTlsTrustFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (VERIFY_CODES.has(code) || REFUSED_ALERT.test(code));
}

/** AUTHENTICATION_FAILED for a trust failure of the TLS connection to `address`, else null. */
export function tlsTrustFailure(error: unknown, address: string): FlotillaError | null {
  if (!isTlsTrustFailure(error)) return null;
  const { code, message } = error as { code: string; message: string };
  const ours = VERIFY_CODES.has(code);
  const hint = ours
    ? 'this side does not trust the certificate the broker showed: give the CA that signed it (tls.ca, --tls-ca, FLOTILLA_TLS_CA), or check that it names the address dialled'
    : 'the broker did not accept our certificate: give one signed by a CA the broker trusts (tls.cert and tls.key, --tls-cert and --tls-key)';
  return new FlotillaError('AUTHENTICATION_FAILED', `TLS with ${address} failed (${code}: ${message}); ${hint}`, {}, { cause: error });
}
