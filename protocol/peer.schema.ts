// Generated from protocol/peer.proto by protocol/codegen.ts. Do not edit.
/* eslint-disable */
import type { INamespace } from 'protobufjs/light.js';

export const PACKAGE = 'flotilla.peer';

/** protobufjs JSON descriptor, for Root.fromJSON. */
export const descriptor = {
 "nested": {
  "flotilla": {
   "nested": {
    "peer": {
     "nested": {
      "PeerMessage": {
       "oneofs": {
        "body": {
         "oneof": [
          "handshake",
          "handshakeAck",
          "raft",
          "heartbeats",
          "heartbeatResponses",
          "forwardRequest",
          "forwardResponse",
          "challenge",
          "proof",
          "raftPart"
         ]
        }
       },
       "fields": {
        "handshake": {
         "type": "Handshake",
         "id": 1
        },
        "handshakeAck": {
         "type": "HandshakeAck",
         "id": 2,
         "protoName": "handshake_ack"
        },
        "raft": {
         "type": "RaftMessages",
         "id": 3
        },
        "heartbeats": {
         "type": "Heartbeats",
         "id": 4
        },
        "heartbeatResponses": {
         "type": "HeartbeatResponses",
         "id": 5,
         "protoName": "heartbeat_responses"
        },
        "forwardRequest": {
         "type": "ForwardRequest",
         "id": 6,
         "protoName": "forward_request"
        },
        "forwardResponse": {
         "type": "ForwardResponse",
         "id": 7,
         "protoName": "forward_response"
        },
        "challenge": {
         "type": "PeerChallenge",
         "id": 8
        },
        "proof": {
         "type": "PeerProof",
         "id": 9
        },
        "raftPart": {
         "type": "RaftFramePart",
         "id": 10,
         "protoName": "raft_part"
        }
       }
      },
      "Handshake": {
       "fields": {
        "clusterId": {
         "type": "string",
         "id": 1,
         "protoName": "cluster_id"
        },
        "brokerId": {
         "type": "uint32",
         "id": 2,
         "protoName": "broker_id"
        },
        "version": {
         "type": "uint32",
         "id": 3
        },
        "address": {
         "type": "string",
         "id": 4
        },
        "nonce": {
         "type": "bytes",
         "id": 5
        }
       }
      },
      "PeerChallenge": {
       "fields": {
        "nonce": {
         "type": "bytes",
         "id": 1
        },
        "proof": {
         "type": "bytes",
         "id": 2
        }
       }
      },
      "PeerProof": {
       "fields": {
        "proof": {
         "type": "bytes",
         "id": 1
        }
       }
      },
      "HandshakeAck": {
       "fields": {
        "accepted": {
         "type": "bool",
         "id": 1
        },
        "brokerId": {
         "type": "uint32",
         "id": 2,
         "protoName": "broker_id"
        },
        "version": {
         "type": "uint32",
         "id": 3
        },
        "errorCode": {
         "type": "uint32",
         "id": 4,
         "protoName": "error_code"
        },
        "errorMessage": {
         "type": "string",
         "id": 5,
         "protoName": "error_message"
        }
       }
      },
      "MessageType": {
       "values": {
        "MESSAGE_TYPE_UNSPECIFIED": 0,
        "PRE_VOTE": 1,
        "PRE_VOTE_RESP": 2,
        "VOTE": 3,
        "VOTE_RESP": 4,
        "APPEND": 5,
        "APPEND_RESP": 6,
        "HEARTBEAT": 7,
        "HEARTBEAT_RESP": 8,
        "SNAPSHOT": 9,
        "TIMEOUT_NOW": 10
       }
      },
      "Snapshot": {
       "fields": {
        "index": {
         "type": "int64",
         "id": 1
        },
        "term": {
         "type": "uint32",
         "id": 2
        },
        "voters": {
         "rule": "repeated",
         "type": "uint32",
         "id": 3
        },
        "learners": {
         "rule": "repeated",
         "type": "uint32",
         "id": 4
        },
        "data": {
         "type": "bytes",
         "id": 5
        }
       }
      },
      "RaftMessage": {
       "oneofs": {
        "_lastIndex": {
         "oneof": [
          "lastIndex"
         ]
        },
        "_lastTerm": {
         "oneof": [
          "lastTerm"
         ]
        },
        "_prevIndex": {
         "oneof": [
          "prevIndex"
         ]
        },
        "_prevTerm": {
         "oneof": [
          "prevTerm"
         ]
        },
        "_commit": {
         "oneof": [
          "commit"
         ]
        },
        "_reject": {
         "oneof": [
          "reject"
         ]
        },
        "_index": {
         "oneof": [
          "index"
         ]
        },
        "_rejectHint": {
         "oneof": [
          "rejectHint"
         ]
        },
        "_conflictTerm": {
         "oneof": [
          "conflictTerm"
         ]
        },
        "_transfer": {
         "oneof": [
          "transfer"
         ]
        }
       },
       "fields": {
        "group": {
         "type": "uint32",
         "id": 1
        },
        "type": {
         "type": "MessageType",
         "id": 2
        },
        "from": {
         "type": "uint32",
         "id": 3
        },
        "to": {
         "type": "uint32",
         "id": 4
        },
        "term": {
         "type": "uint32",
         "id": 5
        },
        "lastIndex": {
         "type": "int64",
         "id": 6,
         "protoName": "last_index",
         "options": {
          "proto3_optional": true
         }
        },
        "lastTerm": {
         "type": "uint32",
         "id": 7,
         "protoName": "last_term",
         "options": {
          "proto3_optional": true
         }
        },
        "prevIndex": {
         "type": "int64",
         "id": 8,
         "protoName": "prev_index",
         "options": {
          "proto3_optional": true
         }
        },
        "prevTerm": {
         "type": "uint32",
         "id": 9,
         "protoName": "prev_term",
         "options": {
          "proto3_optional": true
         }
        },
        "entries": {
         "rule": "repeated",
         "type": "bytes",
         "id": 10
        },
        "commit": {
         "type": "int64",
         "id": 11,
         "options": {
          "proto3_optional": true
         }
        },
        "reject": {
         "type": "bool",
         "id": 12,
         "options": {
          "proto3_optional": true
         }
        },
        "index": {
         "type": "int64",
         "id": 13,
         "options": {
          "proto3_optional": true
         }
        },
        "rejectHint": {
         "type": "int64",
         "id": 14,
         "protoName": "reject_hint",
         "options": {
          "proto3_optional": true
         }
        },
        "conflictTerm": {
         "type": "uint32",
         "id": 15,
         "protoName": "conflict_term",
         "options": {
          "proto3_optional": true
         }
        },
        "snapshot": {
         "type": "Snapshot",
         "id": 16
        },
        "hasEntries": {
         "type": "bool",
         "id": 17,
         "protoName": "has_entries"
        },
        "transfer": {
         "type": "bool",
         "id": 18,
         "options": {
          "proto3_optional": true
         }
        }
       }
      },
      "RaftMessages": {
       "fields": {
        "messages": {
         "rule": "repeated",
         "type": "RaftMessage",
         "id": 1
        }
       }
      },
      "RaftFramePart": {
       "fields": {
        "part": {
         "type": "uint32",
         "id": 1
        },
        "parts": {
         "type": "uint32",
         "id": 2
        },
        "totalBytes": {
         "type": "uint64",
         "id": 3,
         "protoName": "total_bytes"
        },
        "data": {
         "type": "bytes",
         "id": 4
        }
       }
      },
      "GroupHeartbeat": {
       "oneofs": {
        "_quiesce": {
         "oneof": [
          "quiesce"
         ]
        }
       },
       "fields": {
        "group": {
         "type": "uint32",
         "id": 1
        },
        "term": {
         "type": "uint32",
         "id": 2
        },
        "commit": {
         "type": "int64",
         "id": 3
        },
        "quiesce": {
         "type": "bool",
         "id": 4,
         "options": {
          "proto3_optional": true
         }
        }
       }
      },
      "Heartbeats": {
       "fields": {
        "from": {
         "type": "uint32",
         "id": 1
        },
        "to": {
         "type": "uint32",
         "id": 2
        },
        "heartbeats": {
         "rule": "repeated",
         "type": "GroupHeartbeat",
         "id": 3
        }
       }
      },
      "GroupHeartbeatResponse": {
       "oneofs": {
        "_reject": {
         "oneof": [
          "reject"
         ]
        },
        "_index": {
         "oneof": [
          "index"
         ]
        }
       },
       "fields": {
        "group": {
         "type": "uint32",
         "id": 1
        },
        "term": {
         "type": "uint32",
         "id": 2
        },
        "reject": {
         "type": "bool",
         "id": 3,
         "options": {
          "proto3_optional": true
         }
        },
        "index": {
         "type": "int64",
         "id": 4,
         "options": {
          "proto3_optional": true
         }
        }
       }
      },
      "HeartbeatResponses": {
       "fields": {
        "from": {
         "type": "uint32",
         "id": 1
        },
        "to": {
         "type": "uint32",
         "id": 2
        },
        "responses": {
         "rule": "repeated",
         "type": "GroupHeartbeatResponse",
         "id": 3
        }
       }
      },
      "ForwardRequest": {
       "fields": {
        "correlationId": {
         "type": "uint32",
         "id": 1,
         "protoName": "correlation_id"
        },
        "request": {
         "type": "bytes",
         "id": 2
        }
       }
      },
      "ForwardResponse": {
       "fields": {
        "correlationId": {
         "type": "uint32",
         "id": 1,
         "protoName": "correlation_id"
        },
        "response": {
         "type": "bytes",
         "id": 2
        }
       }
      }
     }
    }
   }
  }
 }
} as INamespace;

export interface PeerMessage {
  handshake: Handshake | null;
  handshakeAck: HandshakeAck | null;
  raft: RaftMessages | null;
  heartbeats: Heartbeats | null;
  heartbeatResponses: HeartbeatResponses | null;
  forwardRequest: ForwardRequest | null;
  forwardResponse: ForwardResponse | null;
  challenge: PeerChallenge | null;
  proof: PeerProof | null;
  raftPart: RaftFramePart | null;
  /** Which member of the oneof is set (undefined: none). */
  body?: 'handshake' | 'handshakeAck' | 'raft' | 'heartbeats' | 'heartbeatResponses' | 'forwardRequest' | 'forwardResponse' | 'challenge' | 'proof' | 'raftPart';
}

export interface Handshake {
  clusterId: string;
  /** the dialer */
  brokerId: number;
  /** peer protocol version */
  version: number;
  /** the dialer's advertised HOST:PORT */
  address: string;
  /** the dialer's random challenge to the listener (authentication on) */
  nonce: Buffer;
}

/** The listener's answer to a Handshake when the dialer must prove itself: a random nonce to prove with, and the listener's own proof over the dialer's nonce. */
export interface PeerChallenge {
  nonce: Buffer;
  proof: Buffer;
}

export interface PeerProof {
  proof: Buffer;
}

export interface HandshakeAck {
  accepted: boolean;
  brokerId: number;
  version: number;
  /** When refused: a protocol/errors.ts wire code and why (wrong cluster id, unknown broker). */
  errorCode: number;
  errorMessage: string;
}

/** Mirrors broker/raft/types.ts MessageType. 0 is not a valid message. */
export const MessageType = {
  MESSAGE_TYPE_UNSPECIFIED: 0,
  PRE_VOTE: 1,
  PRE_VOTE_RESP: 2,
  VOTE: 3,
  VOTE_RESP: 4,
  APPEND: 5,
  APPEND_RESP: 6,
  HEARTBEAT: 7,
  HEARTBEAT_RESP: 8,
  SNAPSHOT: 9,
  TIMEOUT_NOW: 10,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface Snapshot {
  index: number;
  term: number;
  voters: number[];
  learners: number[];
  data: Buffer;
}

/** One broker/raft/types.ts Message plus its group. Optional fields keep presence so that a message reads back exactly as it was sent. Indexes are int64: -1 is a real value (the position before the first entry of an empty log). */
export interface RaftMessage {
  group: number;
  type: MessageType;
  from: number;
  to: number;
  /** terms are uint32 in the batch header too */
  term: number;
  lastIndex: number | null;
  lastTerm: number | null;
  prevIndex: number | null;
  prevTerm: number | null;
  /** Each entry is one whole record batch; its index (last offset) and term are read back from the batch header. */
  entries: Buffer[];
  commit: number | null;
  reject: boolean | null;
  index: number | null;
  rejectHint: number | null;
  conflictTerm: number | null;
  snapshot: Snapshot | null;
  /** Distinguishes "no entries" from an empty list, which the core may send as a probe. */
  hasEntries: boolean;
  /** vote/preVote: the leader asked for this election (leadership transfer), so followers that heard from it recently still answer. */
  transfer: boolean | null;
}

export interface RaftMessages {
  messages: RaftMessage[];
}

/** A PeerMessage too large for one frame (a metadata snapshot over --max-frame-bytes), cut into consecutive parts on one connection. The receiver joins them in order and reads the whole as the PeerMessage it was; a part out of sequence discards what was joined so far (Raft sends the snapshot again). A broker that does not know this message ignores it. */
export interface RaftFramePart {
  /** 0, 1, ... parts - 1 */
  part: number;
  parts: number;
  /** of the whole PeerMessage, stated in every part */
  totalBytes: number;
  data: Buffer;
}

/** Coalesced heartbeats: one message per peer per interval for every group this broker leads there (Redpanda's heartbeat_manager). */
export interface GroupHeartbeat {
  group: number;
  term: number;
  commit: number;
  /** The leader's group is idle and stops heartbeating: the follower stops its election clock too, until any message for the group arrives or the leader's broker goes silent. */
  quiesce: boolean | null;
}

export interface Heartbeats {
  from: number;
  to: number;
  heartbeats: GroupHeartbeat[];
}

export interface GroupHeartbeatResponse {
  group: number;
  term: number;
  reject: boolean | null;
  index: number | null;
}

export interface HeartbeatResponses {
  from: number;
  to: number;
  responses: GroupHeartbeatResponse[];
}

/** Controller requests that a non-controller received from a client, relayed to the controller leader: `request` is an encoded flotilla.client.Request, `response` an encoded flotilla.client.Response (kept as bytes so this schema does not depend on client.proto). */
export interface ForwardRequest {
  correlationId: number;
  request: Buffer;
}

export interface ForwardResponse {
  correlationId: number;
  response: Buffer;
}
