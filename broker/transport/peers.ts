/**
 * The stream layer between brokers: every Raft group of this broker shares one outbound
 * connection per peer. Messages queued during one event-loop turn leave as one frame per
 * peer (heartbeats coalesced into one Heartbeats message for all groups), written with
 * one writev; a message too large for any frame (a metadata snapshot) goes in parts
 * (frame-parts.ts). Inbound peer connections (routed here by their 0x02 type byte) must open
 * with a Handshake naming our cluster id; anything else is refused and closed. With
 * authentication on, a connection that is not mutual TLS must then prove the inter-broker
 * credential (peer-auth.ts).
 *
 * Raft tolerates lost messages, so a message for a peer that is not connected, or whose
 * socket already holds `maxQueuedBytes`, is dropped rather than buffered without bound:
 * the group's next heartbeat or append retries it.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { PEER_PROTOCOL_VERSION, decodePeerMessage, encodePeerMessage } from '../../protocol/codec.js';
import { ConnectionType, FrameWriter, readFrames, writeConnectionType } from '../../protocol/frame.js';
import { isTlsTrustFailure } from '../../protocol/tls-errors.js';
import type { Message } from '../raft/types.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { Handshake, RaftFramePart, RaftMessage, RaftMessages } from '../../protocol/peer.schema.js';
import { parseHostPort } from '../config.js';
import { BrokerDial, peerIdentityRefusal, type BrokerTls } from '../security/tls.js';
import { PeerAuth } from './peer-auth.js';
import { cutIntoParts, JoinBudget, MAX_PARTS, PART_OVERHEAD_BYTES, PartJoiner } from './frame-parts.js';
import { coalesceHeartbeats, encodeRaftMessages, expandHeartbeatResponses, expandHeartbeats, toRaftMessage } from './raft-messages.js';

export interface GroupMessage {
  group: number;
  message: Message;
  /** A leader's last heartbeat before its idle group goes quiet (see multiraft). */
  quiesce?: boolean;
}

export interface PeerTransportOptions {
  id: number;
  clusterId: string;
  /** This broker's advertised address, sent in the handshake. */
  address: string;
  logger: Logger;
  maxFrameBytes: number;
  /** Called with every Raft message received from a peer, in arrival order. */
  onMessages(from: number, messages: GroupMessage[]): void;
  /**
   * The connection on which a peer talked to us closed (not replaced by a newer one): we
   * hear nothing from it until it dials again. A killed broker's sockets are reset by the
   * kernel at once, so this is the first sign of its death.
   */
  onPeerLost?(peer: number): void;
  /** Bytes a peer socket may hold unsent before further messages are dropped. */
  maxQueuedBytes?: number;
  /** Inbound peer connections held at once (--max-peer-connections); more are closed. */
  maxInboundConnections?: number;
  /** Dial peers with mutual TLS; absent: plaintext. */
  tls?: BrokerTls;
  /** What authentication asks of plaintext peer connections (peer-auth.ts); absent: nothing. */
  auth?: PeerAuth | null;
}

const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2000;
/**
 * A connected peer not heard from for this long (it sends a keep-alive every tick) is
 * dialled again. After a silent network cut TCP resends what is in flight at doubling
 * intervals: a connection kept across a 15-s cut carried data again only ~11 s after the
 * heal, while a fresh dial gets through at once.
 */
export const PEER_SILENCE_MS = 5000;
/** A dial not through the handshake by then starts over (the kernel resends a lost SYN after 1, 3, 7 s). */
const DIAL_TIMEOUT_MS = 3000;

class OutboundPeer {
  private socket: Socket | null = null;
  private writer: FrameWriter | null = null;
  private ready = false;
  private closed = false;
  private backoffMs = RECONNECT_MIN_MS;
  private timer: NodeJS.Timeout | null = null;
  private dialTimer: NodeJS.Timeout | null = null;
  /** When the current connection shook hands (Date.now()). */
  private readySince = 0;
  /** When a message too large to send was last logged, and when one sent in parts was. */
  private tooLargeLoggedAt = 0;
  private inPartsLoggedAt = 0;
  /** A message too large for one frame, going out in parts between this connection's other frames. */
  private inParts: { parts: Buffer[]; totalBytes: number; next: number } | null = null;
  /** writeParts waits for the socket's 'drain' (besides the next flush or keep-alive). */
  private drainListening = false;
  /**
   * Dial in plaintext next: the peer closed our TLS dial before its handshake, as a broker
   * without TLS does, and --tls-allow-plaintext lets us meet it there. Any other outcome
   * goes back to TLS, so the peer is dialled with TLS again once it restarts with it.
   */
  private plaintext = false;
  /** Messages queued this turn; flushed as one frame per kind. */
  pending: GroupMessage[] = [];

  constructor(
    readonly id: number,
    public address: string,
    private readonly transport: PeerTransport,
  ) {
    this.connect();
  }

  get connected(): boolean {
    return this.ready;
  }

  private connect(): void {
    if (this.closed) return;
    const address = parseHostPort(this.address, `address of broker ${this.id}`);
    const tls = this.transport.options.tls;
    const dial = tls ? tls.dial(address, this.plaintext) : new BrokerDial(address);
    const socket = dial.socket;
    this.socket = socket;
    this.dialTimer = setTimeout(() => {
      this.dialTimer = null;
      if (!this.ready && this.socket === socket) socket.destroy();
    }, DIAL_TIMEOUT_MS);
    this.dialTimer.unref();
    const writer = new FrameWriter(socket, { maxFrameBytes: this.transport.options.maxFrameBytes });
    const { auth, clusterId, id: ourId, logger } = this.transport.options;
    // Offered whenever we can prove ourselves: a listener asks only where it needs it.
    const nonce = auth?.canProve ? PeerAuth.nonce() : undefined;
    socket.once(dial.readyEvent, () => {
      writeConnectionType(socket, ConnectionType.PEER);
      writer.write(encodePeerMessage({ handshake: { clusterId, brokerId: ourId, version: PEER_PROTOCOL_VERSION, address: this.transport.options.address, ...(nonce ? { nonce } : {}) } }));
    });
    readFrames(socket, {
      onFrame: (frame) => {
        const message = decodePeerMessage(frame);
        if (message.challenge && !this.ready) {
          const challenge = message.challenge;
          if (!auth || !nonce) {
            logger.error({ peer: this.id }, 'peer asks this broker to prove the inter-broker credential, which it does not have: start every broker with the same --authn (and FLOTILLA_BOOTSTRAP_USER)');
            socket.destroy();
            return;
          }
          if (challenge.nonce.length !== nonce.length || !PeerAuth.matches(auth.listenerProof(this.id, ourId, nonce), challenge.proof)) {
            logger.error({ peer: this.id, address: this.address }, `peer could not prove the inter-broker credential (another FLOTILLA_BOOTSTRAP_USER password, or not broker ${this.id}); not talking to it`);
            socket.destroy();
            return;
          }
          writer.write(encodePeerMessage({ proof: { proof: auth.dialerProof(ourId, this.id, challenge.nonce, nonce) } }));
          return;
        }
        if (message.handshakeAck) {
          if (!message.handshakeAck.accepted) {
            this.transport.options.logger.error({ peer: this.id, reason: message.handshakeAck.errorMessage }, 'peer refused our handshake');
            socket.destroy();
            return;
          }
          this.ready = true;
          this.readySince = Date.now();
          this.clearDialTimer();
          this.writer = writer;
          this.backoffMs = RECONNECT_MIN_MS;
          this.transport.options.logger.info({ peer: this.id, address: this.address, tls: dial.secure }, 'peer connected');
        }
      },
      onClose: (error) => this.onClose(dial, error),
    }, { maxFrameBytes: this.transport.options.maxFrameBytes, idleTimeoutMs: 0 });
    socket.on('error', () => undefined); // onClose reports and reconnects
  }

  private onClose(dial: BrokerDial, error: Error | null): void {
    const logger = this.transport.options.logger;
    if (this.ready && !this.closed) logger.warn({ peer: this.id }, 'peer connection lost');
    if (dial.secure && !this.ready && isTlsTrustFailure(error)) logger.error({ peer: this.id, address: this.address, err: error!.message }, 'TLS with a peer failed: a certificate was not trusted');
    const fallBack = !this.ready && dial.refusedTls && this.transport.options.tls!.allowPlaintext;
    if (fallBack && !this.plaintext) logger.info({ peer: this.id }, 'peer does not speak TLS yet; dialing it in plaintext (--tls-allow-plaintext)');
    this.plaintext = fallBack;
    this.clearDialTimer();
    this.ready = false;
    this.writer = null;
    this.socket = null;
    // The peer drops what it joined of it with the connection; Raft sends it again.
    this.inParts = null;
    this.drainListening = false;
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, this.backoffMs);
    this.timer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_MAX_MS);
  }

  private clearDialTimer(): void {
    if (this.dialTimer) clearTimeout(this.dialTimer);
    this.dialTimer = null;
  }

  /**
   * Drops a connection that looks dead so that onClose dials again: `lastHeard` (the peer's
   * last frame on its connection to us) is PEER_SILENCE_MS old, or `peerRedialled` (it
   * replaced its connection to us, so it found the path broken) — unless ours is younger
   * than that, which also ends the exchange of redials there.
   */
  redialIfStale(now: number, lastHeard: number, peerRedialled = false): void {
    if (!this.ready || !this.socket || now - this.readySince < PEER_SILENCE_MS) return;
    const silentMs = now - lastHeard;
    if (!peerRedialled && silentMs < PEER_SILENCE_MS) return;
    this.transport.options.logger.warn({ peer: this.id, silentMs, peerRedialled }, 'peer connection looks dead; dialing the peer again');
    this.socket.destroy();
  }

  /** The peer just connected to us, so it is back: skip the rest of the backoff. */
  reconnectNow(): void {
    if (this.ready || this.closed || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.backoffMs = RECONNECT_MIN_MS;
    this.connect();
  }

  /** Writes what was queued this turn; drops it when not connected or over budget. */
  flush(): void {
    const items = this.pending;
    this.pending = [];
    if (!this.ready || !this.writer || !this.socket) return;
    if (this.socket.writableLength > this.transport.maxQueuedBytes) {
      this.transport.stats.droppedMessages += items.length;
      return;
    }
    if (this.inParts) this.writeParts();
    const { heartbeats, responses, rest } = coalesceHeartbeats(items);
    const stats = this.transport.stats;
    if (heartbeats) this.writer.write(encodePeerMessage({ heartbeats }));
    if (responses) this.writer.write(encodePeerMessage({ heartbeatResponses: responses }));
    stats.frames += (heartbeats ? 1 : 0) + (responses ? 1 : 0) + (rest.length > 0 ? 1 : 0);
    stats.groupHeartbeats += (heartbeats?.heartbeats?.length ?? 0) + (responses?.responses?.length ?? 0);
    stats.raftMessages += rest.length;
    if (rest.length === 0) return;
    // Split so that no frame exceeds the peer's limit (appends carry up to maxBytesPerMsg each).
    // Chunks: entries go to the socket by reference, not copied into the envelope.
    let first = 0;
    let bytes = 0;
    const budget = this.transport.options.maxFrameBytes / 2;
    for (let i = 0; i < rest.length; i++) {
      const size = rest[i]!.message.entries?.reduce((n, e) => n + e.data.length, 0) ?? 0;
      if (i > first && bytes + size > budget) {
        this.writeRaft(rest.slice(first, i));
        first = i;
        bytes = 0;
      }
      bytes += size;
    }
    this.writeRaft(first === 0 ? rest : rest.slice(first));
  }

  /**
   * Writes Raft messages as one frame. A message too large for any frame (a metadata
   * snapshot over --max-frame-bytes) goes in parts (frame-parts.ts); one too large even for
   * that, or one that comes while another is still going out in parts, is dropped (Raft
   * sends it again), the former with an error logged at most once a minute: it must not
   * take the broker down from inside a flush.
   */
  private writeRaft(messages: ReadonlyArray<GroupMessage>): void {
    const frame = encodeRaftMessages(messages);
    try {
      this.writer!.write(frame);
      return;
    } catch (error) {
      if (!(error instanceof FlotillaError) || error.code !== 'FRAME_TOO_LARGE') throw error;
    }
    if (messages.length > 1) {
      for (const one of messages) this.writeRaft([one]);
      return;
    }
    const { maxFrameBytes, logger } = this.transport.options;
    const { group, message } = messages[0]!;
    const totalBytes = frame.reduce((n, chunk) => n + chunk.length, 0);
    const now = Date.now();
    if (totalBytes <= MAX_PARTS * (maxFrameBytes - PART_OVERHEAD_BYTES) && !this.inParts) {
      const whole = Buffer.concat(frame, totalBytes);
      this.inParts = { parts: cutIntoParts(whole, maxFrameBytes), totalBytes, next: 0 };
      if (now - this.inPartsLoggedAt >= 60_000) {
        this.inPartsLoggedAt = now;
        logger.info({ peer: this.id, group, type: message.type, bytes: totalBytes, parts: this.inParts.parts.length }, 'sending a Raft message larger than a peer frame in parts (logged at most once a minute)');
      }
      this.writeParts();
      return;
    }
    this.transport.stats.droppedMessages++;
    if (this.inParts || now - this.tooLargeLoggedAt < 60_000) return;
    this.tooLargeLoggedAt = now;
    logger.error({ peer: this.id, group, type: message.type, bytes: totalBytes }, `a Raft message is over ${MAX_PARTS} peer frames and cannot be sent; raise --max-frame-bytes on every broker`);
  }

  /**
   * Writes the next parts of the message going out in parts while the socket holds less
   * than half of maxQueuedBytes, then more as it drains (and at each flush and keep-alive):
   * the other groups' frames go between them, never dropped for a socket full of one snapshot.
   */
  private writeParts(): void {
    const sending = this.inParts;
    const socket = this.socket;
    if (!sending || !socket || socket.destroyed || !this.writer) return;
    const room = this.transport.maxQueuedBytes / 2;
    while (sending.next < sending.parts.length && !socket.destroyed && (socket.writableLength === 0 || socket.writableLength + sending.parts[sending.next]!.length <= room)) {
      const part = sending.next++;
      this.writer.write(encodePeerMessage({ raftPart: { part, parts: sending.parts.length, totalBytes: sending.totalBytes, data: sending.parts[part]! } }));
      this.transport.stats.frames++;
    }
    if (sending.next === sending.parts.length) {
      this.inParts = null;
      return;
    }
    if (this.drainListening) return;
    this.drainListening = true;
    socket.once('drain', () => {
      if (this.socket !== socket) return;
      this.drainListening = false;
      this.writeParts();
    });
  }

  /** This turn's messages were all queued before flush(): write them now, not a turn later. */
  writeNow(): void {
    this.writer?.flush();
  }

  keepAlive(from: number): void {
    if (!this.ready || !this.writer || this.pending.length > 0) return;
    if (this.inParts) this.writeParts();
    this.writer.write(encodePeerMessage({ heartbeats: { from, to: this.id, heartbeats: [] } }));
    this.transport.stats.frames++;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.clearDialTimer();
    this.socket?.destroy();
  }
}

/** Counters of what left for peers, for the statistics line and the scale benchmark. */
export interface TransportStats {
  frames: number;
  /** Raft messages other than heartbeats. */
  raftMessages: number;
  /** Per-group heartbeat entries (inside coalesced Heartbeats frames). */
  groupHeartbeats: number;
  /** Messages dropped because the peer's socket already held maxQueuedBytes. */
  droppedMessages: number;
}

export class PeerTransport {
  readonly stats: TransportStats = { frames: 0, raftMessages: 0, groupHeartbeats: 0, droppedMessages: 0 };
  private readonly peers = new Map<number, OutboundPeer>();
  private readonly inbound = new Set<Socket>();
  /** The live inbound connection of each peer that shook hands. */
  private readonly inboundFrom = new Map<number, Socket>();
  private readonly heard = new Map<number, number>();
  private flushScheduled = false;
  /** When keepAlive last ran (Date.now()). */
  private lastKeepAlive = 0;
  readonly maxQueuedBytes: number;
  /** What the inbound connections' joiners of messages in parts hold together. */
  private readonly joinBudget: JoinBudget;

  constructor(readonly options: PeerTransportOptions) {
    // Room for a few parts of a message sent in parts (writeParts fills half of it), whatever the frame size.
    this.maxQueuedBytes = options.maxQueuedBytes ?? Math.max(64 * 1024 * 1024, 4 * options.maxFrameBytes);
    this.joinBudget = new JoinBudget(MAX_PARTS * options.maxFrameBytes);
  }

  /** Adds a peer to dial, or updates its address. */
  setPeer(id: number, address: string): void {
    if (id === this.options.id) return;
    const existing = this.peers.get(id);
    if (existing && existing.address === address) return;
    existing?.close();
    this.peers.set(id, new OutboundPeer(id, address, this));
  }

  /** Makes the peers exactly `brokers` (this broker aside): a metadata snapshot's list. */
  syncPeers(brokers: ReadonlyArray<{ id: number; address: string }>): void {
    for (const { id, address } of brokers) this.setPeer(id, address);
    for (const id of [...this.peers.keys()]) if (!brokers.some((b) => b.id === id)) this.removePeer(id);
  }

  removePeer(id: number): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  isConnected(id: number): boolean {
    return id === this.options.id || (this.peers.get(id)?.connected ?? false);
  }

  /** Queues a message; everything queued in this turn leaves together. */
  send(to: number, group: number, message: Message, quiesce = false): void {
    const peer = this.peers.get(to);
    if (!peer) return;
    peer.pending.push(quiesce ? { group, message, quiesce } : { group, message });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const peer of this.peers.values()) {
      if (peer.pending.length === 0) continue;
      peer.flush();
      peer.writeNow();
    }
  };

  /**
   * Broker-level liveness, independent of how many groups are active: an empty heartbeat
   * frame to every connected peer. Called once per tick; costs one small frame per peer.
   * It also drops connections to peers gone silent (see PEER_SILENCE_MS), except on the
   * first call after a stall of this broker: what the peers sent meanwhile is still unread
   * (timers run before the loop reads its sockets), so the silence would be our own.
   */
  keepAlive(): void {
    const now = Date.now();
    const stalledHere = now - this.lastKeepAlive > PEER_SILENCE_MS / 2;
    this.lastKeepAlive = now;
    for (const peer of this.peers.values()) {
      if (!stalledHere) peer.redialIfStale(now, this.lastHeardFrom(peer.id));
      peer.keepAlive(this.options.id);
    }
  }

  /** When a frame last arrived from `id` (0: never). */
  lastHeardFrom(id: number): number {
    return this.heard.get(id) ?? 0;
  }

  /** Takes an inbound connection after its 0x02 type byte. */
  accept(socket: Socket): void {
    const limit = this.options.maxInboundConnections ?? Infinity;
    if (this.inbound.size >= limit) {
      this.options.logger.warn({ remote: socket.remoteAddress, limit }, 'refused a peer connection: --max-peer-connections reached');
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    socket.setNoDelay(true);
    const writer = new FrameWriter(socket, { maxFrameBytes: this.options.maxFrameBytes });
    let peerId = 0;
    /** Set once a plaintext dialer was challenged (authentication on): its Handshake and our nonce. */
    let challenged: { hello: Handshake; nonce: Buffer } | null = null;
    const joiner = new PartJoiner(this.options.maxFrameBytes, this.joinBudget);
    const { auth, logger: log } = this.options;
    readFrames(socket, {
      onFrame: (frame) => {
        const message = decodePeerMessage(frame);
        if (peerId === 0) {
          const refuse = (why: string) => {
            writer.write(encodePeerMessage({ handshakeAck: { accepted: false, brokerId: this.options.id, version: PEER_PROTOCOL_VERSION, errorMessage: why } }));
            writer.flush();
            socket.end();
            log.warn({ remote: socket.remoteAddress, reason: why }, 'refused a peer connection');
          };
          if (challenged) {
            const { hello, nonce } = challenged;
            challenged = null;
            if (!PeerAuth.matches(auth!.dialerProof(hello.brokerId, this.options.id, nonce, hello.nonce), message.proof?.proof)) return refuse('the peer did not prove the inter-broker credential');
            peerId = this.admit(socket, writer, hello);
            return;
          }
          const hello = message.handshake;
          if (!hello) return refuse('the first frame on a peer connection must be a handshake');
          if (hello.clusterId !== this.options.clusterId) return refuse(`cluster id "${hello.clusterId}" is not this cluster's`);
          if (hello.version !== PEER_PROTOCOL_VERSION) return refuse(`peer protocol version ${hello.version} is not supported (this broker speaks ${PEER_PROTOCOL_VERSION})`);
          if (!(hello.brokerId > 0) || hello.brokerId === this.options.id) return refuse(`invalid broker id ${hello.brokerId}`);
          if (socket instanceof TLSSocket) {
            // The broker's address as the metadata knows it; a joining one's, as it says.
            const address = this.peers.get(hello.brokerId)?.address ?? hello.address;
            const refusal = peerIdentityRefusal(socket, hello.brokerId, address);
            if (refusal) return refuse(refusal);
          } else if (auth) {
            if (!auth.canProve) return refuse('plaintext peer connections are refused under --authn mtls: brokers talk over mutual TLS');
            if (hello.nonce.length === 0) return refuse('authentication is on: a plaintext peer must prove the inter-broker credential (FLOTILLA_BOOTSTRAP_USER), and this one cannot');
            if (hello.nonce.length !== PeerAuth.NONCE_BYTES) return refuse('malformed handshake nonce');
            challenged = { hello, nonce: PeerAuth.nonce() };
            writer.write(encodePeerMessage({ challenge: { nonce: challenged.nonce, proof: auth.listenerProof(this.options.id, hello.brokerId, hello.nonce) } }));
            return;
          }
          peerId = this.admit(socket, writer, hello);
          return;
        }
        this.heard.set(peerId, Date.now());
        let items: GroupMessage[];
        if (message.raftPart) {
          const raft = this.joined(joiner, message.raftPart, peerId);
          if (!raft) return;
          items = this.received(raft.messages, peerId);
        } else if (message.raft) items = this.received(message.raft.messages, peerId);
        else if (message.heartbeats) items = expandHeartbeats(message.heartbeats);
        else if (message.heartbeatResponses) items = expandHeartbeatResponses(message.heartbeatResponses);
        else return;
        // A message must come from the broker that shook hands: no spoofing other ids.
        this.options.onMessages(peerId, items.filter((item) => item.message.from === peerId));
      },
      onClose: () => {
        joiner.reset();
        this.inbound.delete(socket);
        if (peerId === 0 || this.inboundFrom.get(peerId) !== socket) return;
        this.inboundFrom.delete(peerId);
        log.info({ peer: peerId }, 'peer disconnected');
        this.options.onPeerLost?.(peerId);
      },
    }, { maxFrameBytes: this.options.maxFrameBytes, idleTimeoutMs: 0 });
    socket.on('error', () => undefined);
  }

  /** A peer that shook hands (and proved itself where it had to) speaks for its broker id on `socket`; returns that id. */
  private admit(socket: Socket, writer: FrameWriter, hello: Handshake): number {
    const peerId = hello.brokerId;
    // A peer dials us again only after it gave up its previous connection: close ours
    // too, so half-open leftovers never pile up against --max-peer-connections.
    const replaced = this.inboundFrom.get(peerId);
    replaced?.destroy();
    this.inboundFrom.set(peerId, socket);
    this.heard.set(peerId, Date.now());
    writer.write(encodePeerMessage({ handshakeAck: { accepted: true, brokerId: this.options.id, version: PEER_PROTOCOL_VERSION } }));
    // A returning broker is answered at once, not after our reconnect backoff (up to 2 s).
    this.peers.get(peerId)?.reconnectNow();
    // One that gave up a connection still open here found the path broken: after a
    // one-way cut ours may be stuck in TCP's backoff while we still hear from it.
    if (replaced) this.peers.get(peerId)?.redialIfStale(Date.now(), this.lastHeardFrom(peerId), true);
    return peerId;
  }

  /** The Raft messages of a message sent in parts, once its last part is in. */
  private joined(joiner: PartJoiner, part: RaftFramePart, peerId: number): RaftMessages | null {
    const outcome = joiner.add(part);
    if (!outcome) return null;
    const log = this.options.logger;
    if ('discarded' in outcome) {
      log.warn({ peer: peerId, reason: outcome.discarded }, 'discarded a Raft message sent in parts');
      return null;
    }
    const raft = decodePeerMessage(outcome.whole).raft;
    if (!raft) log.warn({ peer: peerId, bytes: outcome.whole.length }, 'discarded a message sent in parts that holds no Raft messages');
    else log.info({ peer: peerId, bytes: outcome.whole.length, parts: part.parts }, 'received a Raft message larger than a peer frame in parts');
    return raft ?? null;
  }

  /**
   * The Raft messages of a peer's frame. One whose entry is not an intact batch is dropped
   * with a warning, not the connection: Raft sends what went missing again, while a closed
   * connection would start elections.
   */
  private received(messages: RaftMessage[], peerId: number): GroupMessage[] {
    const items: GroupMessage[] = [];
    for (const m of messages) {
      try {
        items.push(toRaftMessage(m, { copy: true, verify: true }));
      } catch (error) {
        if (!(error instanceof FlotillaError) || error.code !== 'CORRUPT_BATCH') throw error;
        this.options.logger.warn({ peer: peerId, group: m.group, err: error }, 'dropped a Raft message whose entry is corrupt');
      }
    }
    return items;
  }

  close(): void {
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    for (const socket of this.inbound) socket.destroy();
    this.inbound.clear();
    this.inboundFrom.clear();
  }
}
