/**
 * Messages between the Raft cores of one group. The core neither sends nor receives: it
 * emits these in `Ready` and takes them in `step`. The multiraft layer adds the group id
 * and carries them over the peer connection (protocol/peer.proto mirrors this shape:
 * entries travel as their batch bytes; index and term are read back from each batch header).
 */
import type { Entry } from './log.js';

export type MessageType =
  | 'preVote'
  | 'preVoteResp'
  | 'vote'
  | 'voteResp'
  | 'append'
  | 'appendResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'snapshot'
  | 'timeoutNow';

export interface SnapshotMeta {
  /** Last offset covered by the snapshot; the receiver's log restarts after it. */
  index: number;
  term: number;
  voters: number[];
  learners: number[];
}

export interface Snapshot extends SnapshotMeta {
  /** State machine image: producer state for a partition, metadata for the controller. */
  data: Buffer;
}

export interface Message {
  type: MessageType;
  from: number;
  to: number;
  /** Sender's term; for preVote the term the candidate would campaign in. */
  term: number;
  /** vote, preVote: the candidate's last log position. */
  lastIndex?: number;
  lastTerm?: number;
  /** append: the entry before `entries` and the leader's commit index. heartbeat: commit. */
  prevIndex?: number;
  prevTerm?: number;
  entries?: Entry[];
  commit?: number;
  /** Responses: refused (vote, preVote, append). */
  reject?: boolean;
  /** appendResp: accepted → last index now matching; rejected → the prevIndex refused. */
  index?: number;
  /** appendResp rejected: the follower's hint (last index it may match) and that entry's term. */
  rejectHint?: number;
  conflictTerm?: number;
  /** snapshot: what the follower installs. */
  snapshot?: Snapshot;
  /**
   * vote: the campaign follows a leadership transfer (TimeoutNow). Voters that still hear
   * from the leader grant it anyway: the leader itself asked for the election.
   */
  transfer?: boolean;
}
