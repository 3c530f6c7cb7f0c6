/**
 * Peers prove themselves on connections that mutual TLS does not authenticate.
 *
 * With `--authn` on, a peer connection speaks for a broker: its Raft messages can elect,
 * append to the metadata log (users, ACLs) and move partitions. Under TLS the certificate
 * proves who dials (security/tls.ts). A plaintext peer connection (`--authn scram` without
 * TLS, or `--tls-allow-plaintext`) proves it holds the inter-broker credential, the
 * bootstrap user's password that every broker of a SCRAM cluster is started with, in a
 * challenge and response that never sends it:
 *
 *   dialer   → Handshake { ..., nonce: Nd }
 *   listener → PeerChallenge { nonce: Nl, proof: HMAC(K, "listener" | cluster | listener id | dialer id | Nd) }
 *   dialer   → PeerProof { proof: HMAC(K, "dialer" | cluster | dialer id | listener id | Nl | Nd) }
 *   listener → HandshakeAck
 *
 * K is derived from the password once (security/inter-broker-key.ts), so a recorded
 * exchange is no cheaper to attack than a SCRAM one. Fresh nonces on both sides make a recorded proof useless on a
 * new connection, and each side checks the other's proof. Under `--authn mtls` there is no
 * shared secret: plaintext peer connections are refused.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { BrokerConfig } from '../config.js';
import { interBrokerKey } from '../security/inter-broker-key.js';


export class PeerAuth {
  static readonly NONCE_BYTES = 32;

  private constructor(
    private readonly clusterId: string,
    /** Null under --authn mtls: nothing to prove with, so plaintext peers are refused. */
    private readonly key: Buffer | null,
  ) {}

  /** What this broker's authentication asks of plaintext peer connections; null: nothing (--authn none). */
  static of(config: Pick<BrokerConfig, 'authn' | 'bootstrapUser'>, clusterId: string): PeerAuth | null {
    return config.authn === 'none' ? null : new PeerAuth(clusterId, interBrokerKey(config, 'peer proof'));
  }

  /** False under --authn mtls: a plaintext peer cannot prove itself, only TLS can. */
  get canProve(): boolean {
    return this.key !== null;
  }

  static nonce(): Buffer {
    return randomBytes(PeerAuth.NONCE_BYTES);
  }

  listenerProof(listenerId: number, dialerId: number, dialerNonce: Uint8Array): Buffer {
    return this.mac('listener', listenerId, dialerId, dialerNonce);
  }

  dialerProof(dialerId: number, listenerId: number, listenerNonce: Uint8Array, dialerNonce: Uint8Array): Buffer {
    return this.mac('dialer', dialerId, listenerId, listenerNonce, dialerNonce);
  }

  /** Constant-time comparison of a received proof with the expected one. */
  static matches(expected: Buffer, received: Uint8Array | undefined | null): boolean {
    return !!received && received.length === expected.length && timingSafeEqual(expected, received);
  }

  private mac(role: string, from: number, to: number, ...nonces: Uint8Array[]): Buffer {
    if (!this.key) throw new Error('peer auth: no inter-broker credential to prove with');
    const hmac = createHmac('sha256', this.key).update(`${role}\0${this.clusterId}\0${from}\0${to}\0`);
    for (const nonce of nonces) {
      if (nonce.length !== PeerAuth.NONCE_BYTES) throw new Error('peer auth: a nonce must be 32 bytes');
      hmac.update(nonce);
    }
    return hmac.digest();
  }
}
