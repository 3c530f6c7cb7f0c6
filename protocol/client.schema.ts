// Generated from protocol/client.proto by protocol/codegen.ts. Do not edit.
/* eslint-disable */
import type { INamespace } from 'protobufjs/light.js';

export const PACKAGE = 'flotilla.client';

/** protobufjs JSON descriptor, for Root.fromJSON. */
export const descriptor = {
 "nested": {
  "flotilla": {
   "nested": {
    "client": {
     "nested": {
      "ErrorInfo": {
       "fields": {
        "code": {
         "type": "uint32",
         "id": 1
        },
        "message": {
         "type": "string",
         "id": 2
        },
        "leaderId": {
         "type": "uint32",
         "id": 3,
         "protoName": "leader_id"
        },
        "leaderAddress": {
         "type": "string",
         "id": 4,
         "protoName": "leader_address"
        }
       }
      },
      "Request": {
       "oneofs": {
        "body": {
         "oneof": [
          "metadata",
          "produce",
          "fetch",
          "listOffsets",
          "createTopics",
          "deleteTopics",
          "alterTopicConfig",
          "describeTopic",
          "describeCluster",
          "initProducerId",
          "joinGroup",
          "heartbeat",
          "leaveGroup",
          "commitOffsets",
          "fetchOffsets",
          "listGroups",
          "describeGroup",
          "resetOffsets",
          "registerBroker",
          "movePartition",
          "transferLeader",
          "balanceLeaders",
          "removeBroker",
          "saslHandshake",
          "saslAuthenticate",
          "createUser",
          "alterUser",
          "deleteUser",
          "listUsers",
          "createAcls",
          "listAcls",
          "deleteAcls",
          "describeBroker"
         ]
        }
       },
       "fields": {
        "correlationId": {
         "type": "uint32",
         "id": 1,
         "protoName": "correlation_id"
        },
        "apiVersion": {
         "type": "uint32",
         "id": 2,
         "protoName": "api_version"
        },
        "clientId": {
         "type": "string",
         "id": 3,
         "protoName": "client_id"
        },
        "metadata": {
         "type": "MetadataRequest",
         "id": 10
        },
        "produce": {
         "type": "ProduceRequest",
         "id": 11
        },
        "fetch": {
         "type": "FetchRequest",
         "id": 12
        },
        "listOffsets": {
         "type": "ListOffsetsRequest",
         "id": 13,
         "protoName": "list_offsets"
        },
        "createTopics": {
         "type": "CreateTopicsRequest",
         "id": 14,
         "protoName": "create_topics"
        },
        "deleteTopics": {
         "type": "DeleteTopicsRequest",
         "id": 15,
         "protoName": "delete_topics"
        },
        "alterTopicConfig": {
         "type": "AlterTopicConfigRequest",
         "id": 16,
         "protoName": "alter_topic_config"
        },
        "describeTopic": {
         "type": "DescribeTopicRequest",
         "id": 17,
         "protoName": "describe_topic"
        },
        "describeCluster": {
         "type": "DescribeClusterRequest",
         "id": 18,
         "protoName": "describe_cluster"
        },
        "initProducerId": {
         "type": "InitProducerIdRequest",
         "id": 19,
         "protoName": "init_producer_id"
        },
        "joinGroup": {
         "type": "JoinGroupRequest",
         "id": 20,
         "protoName": "join_group"
        },
        "heartbeat": {
         "type": "HeartbeatRequest",
         "id": 21
        },
        "leaveGroup": {
         "type": "LeaveGroupRequest",
         "id": 22,
         "protoName": "leave_group"
        },
        "commitOffsets": {
         "type": "CommitOffsetsRequest",
         "id": 23,
         "protoName": "commit_offsets"
        },
        "fetchOffsets": {
         "type": "FetchOffsetsRequest",
         "id": 24,
         "protoName": "fetch_offsets"
        },
        "listGroups": {
         "type": "ListGroupsRequest",
         "id": 25,
         "protoName": "list_groups"
        },
        "describeGroup": {
         "type": "DescribeGroupRequest",
         "id": 26,
         "protoName": "describe_group"
        },
        "resetOffsets": {
         "type": "ResetOffsetsRequest",
         "id": 27,
         "protoName": "reset_offsets"
        },
        "registerBroker": {
         "type": "RegisterBrokerRequest",
         "id": 28,
         "protoName": "register_broker"
        },
        "movePartition": {
         "type": "MovePartitionRequest",
         "id": 29,
         "protoName": "move_partition"
        },
        "transferLeader": {
         "type": "TransferLeaderRequest",
         "id": 30,
         "protoName": "transfer_leader"
        },
        "balanceLeaders": {
         "type": "BalanceLeadersRequest",
         "id": 31,
         "protoName": "balance_leaders"
        },
        "removeBroker": {
         "type": "RemoveBrokerRequest",
         "id": 32,
         "protoName": "remove_broker"
        },
        "saslHandshake": {
         "type": "SaslHandshakeRequest",
         "id": 33,
         "protoName": "sasl_handshake"
        },
        "saslAuthenticate": {
         "type": "SaslAuthenticateRequest",
         "id": 34,
         "protoName": "sasl_authenticate"
        },
        "createUser": {
         "type": "CreateUserRequest",
         "id": 35,
         "protoName": "create_user"
        },
        "alterUser": {
         "type": "AlterUserRequest",
         "id": 36,
         "protoName": "alter_user"
        },
        "deleteUser": {
         "type": "DeleteUserRequest",
         "id": 37,
         "protoName": "delete_user"
        },
        "listUsers": {
         "type": "ListUsersRequest",
         "id": 38,
         "protoName": "list_users"
        },
        "createAcls": {
         "type": "CreateAclsRequest",
         "id": 39,
         "protoName": "create_acls"
        },
        "listAcls": {
         "type": "ListAclsRequest",
         "id": 40,
         "protoName": "list_acls"
        },
        "deleteAcls": {
         "type": "DeleteAclsRequest",
         "id": 41,
         "protoName": "delete_acls"
        },
        "describeBroker": {
         "type": "DescribeBrokerRequest",
         "id": 42,
         "protoName": "describe_broker"
        }
       }
      },
      "Response": {
       "oneofs": {
        "body": {
         "oneof": [
          "metadata",
          "produce",
          "fetch",
          "listOffsets",
          "createTopics",
          "deleteTopics",
          "alterTopicConfig",
          "describeTopic",
          "describeCluster",
          "initProducerId",
          "joinGroup",
          "heartbeat",
          "leaveGroup",
          "commitOffsets",
          "fetchOffsets",
          "listGroups",
          "describeGroup",
          "resetOffsets",
          "registerBroker",
          "movePartition",
          "transferLeader",
          "balanceLeaders",
          "removeBroker",
          "saslHandshake",
          "saslAuthenticate",
          "createUser",
          "alterUser",
          "deleteUser",
          "listUsers",
          "createAcls",
          "listAcls",
          "deleteAcls",
          "describeBroker"
         ]
        }
       },
       "fields": {
        "correlationId": {
         "type": "uint32",
         "id": 1,
         "protoName": "correlation_id"
        },
        "error": {
         "type": "ErrorInfo",
         "id": 2
        },
        "metadata": {
         "type": "MetadataResponse",
         "id": 10
        },
        "produce": {
         "type": "ProduceResponse",
         "id": 11
        },
        "fetch": {
         "type": "FetchResponse",
         "id": 12
        },
        "listOffsets": {
         "type": "ListOffsetsResponse",
         "id": 13,
         "protoName": "list_offsets"
        },
        "createTopics": {
         "type": "CreateTopicsResponse",
         "id": 14,
         "protoName": "create_topics"
        },
        "deleteTopics": {
         "type": "DeleteTopicsResponse",
         "id": 15,
         "protoName": "delete_topics"
        },
        "alterTopicConfig": {
         "type": "AlterTopicConfigResponse",
         "id": 16,
         "protoName": "alter_topic_config"
        },
        "describeTopic": {
         "type": "DescribeTopicResponse",
         "id": 17,
         "protoName": "describe_topic"
        },
        "describeCluster": {
         "type": "DescribeClusterResponse",
         "id": 18,
         "protoName": "describe_cluster"
        },
        "initProducerId": {
         "type": "InitProducerIdResponse",
         "id": 19,
         "protoName": "init_producer_id"
        },
        "joinGroup": {
         "type": "JoinGroupResponse",
         "id": 20,
         "protoName": "join_group"
        },
        "heartbeat": {
         "type": "HeartbeatResponse",
         "id": 21
        },
        "leaveGroup": {
         "type": "LeaveGroupResponse",
         "id": 22,
         "protoName": "leave_group"
        },
        "commitOffsets": {
         "type": "CommitOffsetsResponse",
         "id": 23,
         "protoName": "commit_offsets"
        },
        "fetchOffsets": {
         "type": "FetchOffsetsResponse",
         "id": 24,
         "protoName": "fetch_offsets"
        },
        "listGroups": {
         "type": "ListGroupsResponse",
         "id": 25,
         "protoName": "list_groups"
        },
        "describeGroup": {
         "type": "DescribeGroupResponse",
         "id": 26,
         "protoName": "describe_group"
        },
        "resetOffsets": {
         "type": "ResetOffsetsResponse",
         "id": 27,
         "protoName": "reset_offsets"
        },
        "registerBroker": {
         "type": "RegisterBrokerResponse",
         "id": 28,
         "protoName": "register_broker"
        },
        "movePartition": {
         "type": "MovePartitionResponse",
         "id": 29,
         "protoName": "move_partition"
        },
        "transferLeader": {
         "type": "TransferLeaderResponse",
         "id": 30,
         "protoName": "transfer_leader"
        },
        "balanceLeaders": {
         "type": "BalanceLeadersResponse",
         "id": 31,
         "protoName": "balance_leaders"
        },
        "removeBroker": {
         "type": "RemoveBrokerResponse",
         "id": 32,
         "protoName": "remove_broker"
        },
        "saslHandshake": {
         "type": "SaslHandshakeResponse",
         "id": 33,
         "protoName": "sasl_handshake"
        },
        "saslAuthenticate": {
         "type": "SaslAuthenticateResponse",
         "id": 34,
         "protoName": "sasl_authenticate"
        },
        "createUser": {
         "type": "CreateUserResponse",
         "id": 35,
         "protoName": "create_user"
        },
        "alterUser": {
         "type": "AlterUserResponse",
         "id": 36,
         "protoName": "alter_user"
        },
        "deleteUser": {
         "type": "DeleteUserResponse",
         "id": 37,
         "protoName": "delete_user"
        },
        "listUsers": {
         "type": "ListUsersResponse",
         "id": 38,
         "protoName": "list_users"
        },
        "createAcls": {
         "type": "CreateAclsResponse",
         "id": 39,
         "protoName": "create_acls"
        },
        "listAcls": {
         "type": "ListAclsResponse",
         "id": 40,
         "protoName": "list_acls"
        },
        "deleteAcls": {
         "type": "DeleteAclsResponse",
         "id": 41,
         "protoName": "delete_acls"
        },
        "describeBroker": {
         "type": "DescribeBrokerResponse",
         "id": 42,
         "protoName": "describe_broker"
        }
       }
      },
      "BrokerInfo": {
       "fields": {
        "id": {
         "type": "uint32",
         "id": 1
        },
        "address": {
         "type": "string",
         "id": 2
        },
        "kafkaAddress": {
         "type": "string",
         "id": 3,
         "protoName": "kafka_address"
        },
        "rack": {
         "type": "string",
         "id": 4
        }
       }
      },
      "TopicPartitions": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partitions": {
         "rule": "repeated",
         "type": "uint32",
         "id": 2
        }
       }
      },
      "TopicConfig": {
       "oneofs": {
        "_retentionMs": {
         "oneof": [
          "retentionMs"
         ]
        },
        "_retentionBytes": {
         "oneof": [
          "retentionBytes"
         ]
        },
        "_segmentBytes": {
         "oneof": [
          "segmentBytes"
         ]
        }
       },
       "fields": {
        "retentionMs": {
         "type": "int64",
         "id": 1,
         "protoName": "retention_ms",
         "options": {
          "proto3_optional": true
         }
        },
        "retentionBytes": {
         "type": "int64",
         "id": 2,
         "protoName": "retention_bytes",
         "options": {
          "proto3_optional": true
         }
        },
        "segmentBytes": {
         "type": "int64",
         "id": 3,
         "protoName": "segment_bytes",
         "options": {
          "proto3_optional": true
         }
        }
       }
      },
      "TopicResult": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "error": {
         "type": "ErrorInfo",
         "id": 2
        }
       }
      },
      "OffsetSpec": {
       "values": {
        "OFFSET_LATEST": 0,
        "OFFSET_EARLIEST": 1,
        "OFFSET_BY_TIMESTAMP": 2,
        "OFFSET_EXACT": 3,
        "OFFSET_MAX_TIMESTAMP": 4
       }
      },
      "MetadataRequest": {
       "fields": {
        "topics": {
         "rule": "repeated",
         "type": "string",
         "id": 1
        }
       }
      },
      "PartitionMetadata": {
       "fields": {
        "partition": {
         "type": "uint32",
         "id": 1
        },
        "leader": {
         "type": "uint32",
         "id": 2
        },
        "leaderTerm": {
         "type": "uint32",
         "id": 3,
         "protoName": "leader_term"
        },
        "replicas": {
         "rule": "repeated",
         "type": "uint32",
         "id": 4
        },
        "inSync": {
         "rule": "repeated",
         "type": "uint32",
         "id": 5,
         "protoName": "in_sync"
        }
       }
      },
      "TopicMetadata": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "error": {
         "type": "ErrorInfo",
         "id": 2
        },
        "partitions": {
         "rule": "repeated",
         "type": "PartitionMetadata",
         "id": 3
        }
       }
      },
      "MetadataResponse": {
       "fields": {
        "brokers": {
         "rule": "repeated",
         "type": "BrokerInfo",
         "id": 1
        },
        "controllerId": {
         "type": "uint32",
         "id": 2,
         "protoName": "controller_id"
        },
        "topics": {
         "rule": "repeated",
         "type": "TopicMetadata",
         "id": 3
        }
       }
      },
      "Acks": {
       "values": {
        "ACKS_ALL": 0,
        "ACKS_LEADER": 1,
        "ACKS_NONE": 2
       }
      },
      "ProduceRequest": {
       "fields": {
        "acks": {
         "type": "Acks",
         "id": 3
        },
        "timeoutMs": {
         "type": "uint32",
         "id": 4,
         "protoName": "timeout_ms"
        },
        "partitions": {
         "rule": "repeated",
         "type": "ProducePartition",
         "id": 6
        }
       },
       "reserved": [
        [
         1,
         1
        ],
        [
         2,
         2
        ],
        [
         5,
         5
        ]
       ]
      },
      "ProducePartition": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "batch": {
         "type": "bytes",
         "id": 3
        }
       }
      },
      "ProduceResponse": {
       "fields": {
        "partitions": {
         "rule": "repeated",
         "type": "ProducePartitionResult",
         "id": 4
        }
       },
       "reserved": [
        [
         1,
         1
        ],
        [
         2,
         2
        ],
        [
         3,
         3
        ]
       ]
      },
      "ProducePartitionResult": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "error": {
         "type": "ErrorInfo",
         "id": 3
        },
        "baseOffset": {
         "type": "int64",
         "id": 4,
         "protoName": "base_offset"
        },
        "lastOffset": {
         "type": "int64",
         "id": 5,
         "protoName": "last_offset"
        },
        "logStartOffset": {
         "type": "int64",
         "id": 6,
         "protoName": "log_start_offset"
        }
       }
      },
      "FetchPartition": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "offset": {
         "type": "int64",
         "id": 3
        },
        "maxBytes": {
         "type": "uint32",
         "id": 4,
         "protoName": "max_bytes"
        }
       }
      },
      "FetchRequest": {
       "fields": {
        "partitions": {
         "rule": "repeated",
         "type": "FetchPartition",
         "id": 1
        },
        "maxWaitMs": {
         "type": "uint32",
         "id": 2,
         "protoName": "max_wait_ms"
        },
        "minBytes": {
         "type": "uint32",
         "id": 3,
         "protoName": "min_bytes"
        },
        "maxBytes": {
         "type": "uint32",
         "id": 4,
         "protoName": "max_bytes"
        }
       }
      },
      "FetchedPartition": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "error": {
         "type": "ErrorInfo",
         "id": 3
        },
        "highWatermark": {
         "type": "int64",
         "id": 4,
         "protoName": "high_watermark"
        },
        "logStartOffset": {
         "type": "int64",
         "id": 5,
         "protoName": "log_start_offset"
        },
        "records": {
         "type": "bytes",
         "id": 6
        }
       }
      },
      "FetchResponse": {
       "fields": {
        "partitions": {
         "rule": "repeated",
         "type": "FetchedPartition",
         "id": 1
        }
       }
      },
      "ListOffsetsPartition": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "spec": {
         "type": "OffsetSpec",
         "id": 3
        },
        "value": {
         "type": "int64",
         "id": 4
        }
       }
      },
      "ListOffsetsRequest": {
       "fields": {
        "partitions": {
         "rule": "repeated",
         "type": "ListOffsetsPartition",
         "id": 1
        }
       }
      },
      "ListedOffset": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "error": {
         "type": "ErrorInfo",
         "id": 3
        },
        "offset": {
         "type": "int64",
         "id": 4
        },
        "timestamp": {
         "type": "int64",
         "id": 5
        }
       }
      },
      "ListOffsetsResponse": {
       "fields": {
        "offsets": {
         "rule": "repeated",
         "type": "ListedOffset",
         "id": 1
        }
       }
      },
      "NewTopic": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partitions": {
         "type": "uint32",
         "id": 2
        },
        "replication": {
         "type": "uint32",
         "id": 3
        },
        "config": {
         "type": "TopicConfig",
         "id": 4
        }
       }
      },
      "CreateTopicsRequest": {
       "fields": {
        "topics": {
         "rule": "repeated",
         "type": "NewTopic",
         "id": 1
        },
        "timeoutMs": {
         "type": "uint32",
         "id": 2,
         "protoName": "timeout_ms"
        }
       }
      },
      "CreateTopicsResponse": {
       "fields": {
        "results": {
         "rule": "repeated",
         "type": "TopicResult",
         "id": 1
        }
       }
      },
      "DeleteTopicsRequest": {
       "fields": {
        "topics": {
         "rule": "repeated",
         "type": "string",
         "id": 1
        }
       }
      },
      "DeleteTopicsResponse": {
       "fields": {
        "results": {
         "rule": "repeated",
         "type": "TopicResult",
         "id": 1
        }
       }
      },
      "AlterTopicConfigRequest": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "config": {
         "type": "TopicConfig",
         "id": 2
        }
       }
      },
      "AlterTopicConfigResponse": {
       "fields": {}
      },
      "DescribeTopicRequest": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        }
       }
      },
      "PartitionDescription": {
       "fields": {
        "partition": {
         "type": "uint32",
         "id": 1
        },
        "leader": {
         "type": "uint32",
         "id": 2
        },
        "replicas": {
         "rule": "repeated",
         "type": "uint32",
         "id": 3
        },
        "inSync": {
         "rule": "repeated",
         "type": "uint32",
         "id": 4,
         "protoName": "in_sync"
        },
        "highWatermark": {
         "type": "int64",
         "id": 5,
         "protoName": "high_watermark"
        },
        "logStartOffset": {
         "type": "int64",
         "id": 6,
         "protoName": "log_start_offset"
        },
        "movingFrom": {
         "rule": "repeated",
         "type": "uint32",
         "id": 7,
         "protoName": "moving_from"
        }
       }
      },
      "DescribeTopicResponse": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partitions": {
         "rule": "repeated",
         "type": "PartitionDescription",
         "id": 2
        },
        "config": {
         "type": "TopicConfig",
         "id": 3
        }
       }
      },
      "DescribeClusterRequest": {
       "fields": {}
      },
      "BrokerStatus": {
       "fields": {
        "id": {
         "type": "uint32",
         "id": 1
        },
        "address": {
         "type": "string",
         "id": 2
        },
        "alive": {
         "type": "bool",
         "id": 3
        },
        "leaders": {
         "type": "uint32",
         "id": 4
        }
       }
      },
      "DescribeClusterResponse": {
       "fields": {
        "controllerId": {
         "type": "uint32",
         "id": 1,
         "protoName": "controller_id"
        },
        "brokers": {
         "rule": "repeated",
         "type": "BrokerStatus",
         "id": 2
        }
       }
      },
      "DescribeBrokerRequest": {
       "fields": {}
      },
      "DescribeBrokerResponse": {
       "fields": {
        "sightJson": {
         "type": "string",
         "id": 1,
         "protoName": "sight_json"
        }
       }
      },
      "InitProducerIdRequest": {
       "oneofs": {
        "_producerId": {
         "oneof": [
          "producerId"
         ]
        }
       },
       "fields": {
        "producerId": {
         "type": "int64",
         "id": 1,
         "protoName": "producer_id",
         "options": {
          "proto3_optional": true
         }
        },
        "producerEpoch": {
         "type": "int32",
         "id": 2,
         "protoName": "producer_epoch"
        }
       }
      },
      "InitProducerIdResponse": {
       "fields": {
        "producerId": {
         "type": "int64",
         "id": 1,
         "protoName": "producer_id"
        },
        "producerEpoch": {
         "type": "int32",
         "id": 2,
         "protoName": "producer_epoch"
        }
       }
      },
      "JoinGroupRequest": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        },
        "memberId": {
         "type": "string",
         "id": 2,
         "protoName": "member_id"
        },
        "topics": {
         "rule": "repeated",
         "type": "string",
         "id": 3
        },
        "sessionTimeoutMs": {
         "type": "uint32",
         "id": 4,
         "protoName": "session_timeout_ms"
        },
        "owned": {
         "rule": "repeated",
         "type": "TopicPartitions",
         "id": 5
        }
       }
      },
      "JoinGroupResponse": {
       "fields": {
        "memberId": {
         "type": "string",
         "id": 1,
         "protoName": "member_id"
        },
        "generation": {
         "type": "uint32",
         "id": 2
        },
        "assignment": {
         "rule": "repeated",
         "type": "TopicPartitions",
         "id": 3
        },
        "heartbeatIntervalMs": {
         "type": "uint32",
         "id": 4,
         "protoName": "heartbeat_interval_ms"
        }
       }
      },
      "HeartbeatRequest": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        },
        "memberId": {
         "type": "string",
         "id": 2,
         "protoName": "member_id"
        },
        "generation": {
         "type": "uint32",
         "id": 3
        }
       }
      },
      "HeartbeatResponse": {
       "fields": {
        "generation": {
         "type": "uint32",
         "id": 1
        },
        "assignment": {
         "rule": "repeated",
         "type": "TopicPartitions",
         "id": 2
        }
       }
      },
      "LeaveGroupRequest": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        },
        "memberId": {
         "type": "string",
         "id": 2,
         "protoName": "member_id"
        }
       }
      },
      "LeaveGroupResponse": {
       "fields": {}
      },
      "PartitionOffset": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "offset": {
         "type": "int64",
         "id": 3
        },
        "error": {
         "type": "ErrorInfo",
         "id": 4
        }
       }
      },
      "CommitOffsetsRequest": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        },
        "memberId": {
         "type": "string",
         "id": 2,
         "protoName": "member_id"
        },
        "generation": {
         "type": "uint32",
         "id": 3
        },
        "offsets": {
         "rule": "repeated",
         "type": "PartitionOffset",
         "id": 4
        }
       }
      },
      "CommitOffsetsResponse": {
       "fields": {
        "offsets": {
         "rule": "repeated",
         "type": "PartitionOffset",
         "id": 1
        }
       }
      },
      "FetchOffsetsRequest": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        },
        "partitions": {
         "rule": "repeated",
         "type": "TopicPartitions",
         "id": 2
        }
       }
      },
      "FetchOffsetsResponse": {
       "fields": {
        "offsets": {
         "rule": "repeated",
         "type": "PartitionOffset",
         "id": 1
        }
       }
      },
      "ListGroupsRequest": {
       "fields": {}
      },
      "GroupListing": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        },
        "state": {
         "type": "string",
         "id": 2
        },
        "members": {
         "type": "uint32",
         "id": 3
        }
       }
      },
      "ListGroupsResponse": {
       "fields": {
        "groups": {
         "rule": "repeated",
         "type": "GroupListing",
         "id": 1
        }
       }
      },
      "DescribeGroupRequest": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        }
       }
      },
      "GroupMember": {
       "fields": {
        "memberId": {
         "type": "string",
         "id": 1,
         "protoName": "member_id"
        },
        "clientId": {
         "type": "string",
         "id": 2,
         "protoName": "client_id"
        },
        "clientAddress": {
         "type": "string",
         "id": 3,
         "protoName": "client_address"
        },
        "assignment": {
         "rule": "repeated",
         "type": "TopicPartitions",
         "id": 4
        }
       }
      },
      "DescribeGroupResponse": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        },
        "state": {
         "type": "string",
         "id": 2
        },
        "generation": {
         "type": "uint32",
         "id": 3
        },
        "members": {
         "rule": "repeated",
         "type": "GroupMember",
         "id": 4
        },
        "offsets": {
         "rule": "repeated",
         "type": "PartitionOffset",
         "id": 5
        }
       }
      },
      "ResetOffsetsRequest": {
       "fields": {
        "groupId": {
         "type": "string",
         "id": 1,
         "protoName": "group_id"
        },
        "topic": {
         "type": "string",
         "id": 2
        },
        "partitions": {
         "rule": "repeated",
         "type": "uint32",
         "id": 3
        },
        "spec": {
         "type": "OffsetSpec",
         "id": 4
        },
        "value": {
         "type": "int64",
         "id": 5
        },
        "offsets": {
         "rule": "repeated",
         "type": "PartitionOffset",
         "id": 6
        }
       }
      },
      "ResetOffsetsResponse": {
       "fields": {
        "offsets": {
         "rule": "repeated",
         "type": "PartitionOffset",
         "id": 1
        }
       }
      },
      "RegisterBrokerRequest": {
       "fields": {
        "brokerId": {
         "type": "uint32",
         "id": 1,
         "protoName": "broker_id"
        },
        "address": {
         "type": "string",
         "id": 2
        },
        "kafkaAddress": {
         "type": "string",
         "id": 3,
         "protoName": "kafka_address"
        },
        "rack": {
         "type": "string",
         "id": 4
        }
       }
      },
      "RegisterBrokerResponse": {
       "fields": {
        "clusterId": {
         "type": "string",
         "id": 1,
         "protoName": "cluster_id"
        },
        "controllerId": {
         "type": "uint32",
         "id": 2,
         "protoName": "controller_id"
        },
        "brokers": {
         "rule": "repeated",
         "type": "BrokerInfo",
         "id": 3
        },
        "controllerVoters": {
         "rule": "repeated",
         "type": "uint32",
         "id": 4,
         "protoName": "controller_voters"
        }
       }
      },
      "MovePartitionRequest": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "replicas": {
         "rule": "repeated",
         "type": "uint32",
         "id": 3
        },
        "completed": {
         "type": "bool",
         "id": 4
        }
       }
      },
      "MovePartitionResponse": {
       "fields": {}
      },
      "TransferLeaderRequest": {
       "fields": {
        "topic": {
         "type": "string",
         "id": 1
        },
        "partition": {
         "type": "uint32",
         "id": 2
        },
        "to": {
         "type": "uint32",
         "id": 3
        }
       }
      },
      "TransferLeaderResponse": {
       "fields": {}
      },
      "BalanceLeadersRequest": {
       "fields": {}
      },
      "BalanceLeadersResponse": {
       "fields": {
        "transfers": {
         "type": "uint32",
         "id": 1
        }
       }
      },
      "RemoveBrokerRequest": {
       "fields": {
        "brokerId": {
         "type": "uint32",
         "id": 1,
         "protoName": "broker_id"
        }
       }
      },
      "RemoveBrokerResponse": {
       "fields": {}
      },
      "SaslHandshakeRequest": {
       "fields": {
        "mechanism": {
         "type": "string",
         "id": 1
        }
       }
      },
      "SaslHandshakeResponse": {
       "fields": {
        "mechanisms": {
         "rule": "repeated",
         "type": "string",
         "id": 1
        }
       }
      },
      "SaslAuthenticateRequest": {
       "fields": {
        "authBytes": {
         "type": "bytes",
         "id": 1,
         "protoName": "auth_bytes"
        }
       }
      },
      "SaslAuthenticateResponse": {
       "fields": {
        "authBytes": {
         "type": "bytes",
         "id": 1,
         "protoName": "auth_bytes"
        }
       }
      },
      "ScramCredential": {
       "fields": {
        "mechanism": {
         "type": "string",
         "id": 1
        },
        "salt": {
         "type": "string",
         "id": 2
        },
        "iterations": {
         "type": "uint32",
         "id": 3
        },
        "storedKey": {
         "type": "string",
         "id": 4,
         "protoName": "stored_key"
        },
        "serverKey": {
         "type": "string",
         "id": 5,
         "protoName": "server_key"
        }
       }
      },
      "CreateUserRequest": {
       "fields": {
        "name": {
         "type": "string",
         "id": 1
        },
        "credential": {
         "type": "ScramCredential",
         "id": 2
        }
       }
      },
      "CreateUserResponse": {
       "fields": {}
      },
      "AlterUserRequest": {
       "fields": {
        "name": {
         "type": "string",
         "id": 1
        },
        "credential": {
         "type": "ScramCredential",
         "id": 2
        }
       }
      },
      "AlterUserResponse": {
       "fields": {}
      },
      "DeleteUserRequest": {
       "fields": {
        "name": {
         "type": "string",
         "id": 1
        }
       }
      },
      "DeleteUserResponse": {
       "fields": {}
      },
      "ListUsersRequest": {
       "fields": {}
      },
      "UserListing": {
       "fields": {
        "name": {
         "type": "string",
         "id": 1
        },
        "mechanism": {
         "type": "string",
         "id": 2
        },
        "iterations": {
         "type": "uint32",
         "id": 3
        }
       }
      },
      "ListUsersResponse": {
       "fields": {
        "users": {
         "rule": "repeated",
         "type": "UserListing",
         "id": 1
        }
       }
      },
      "AclBinding": {
       "fields": {
        "principal": {
         "type": "string",
         "id": 1
        },
        "permission": {
         "type": "string",
         "id": 2
        },
        "operation": {
         "type": "string",
         "id": 3
        },
        "resourceType": {
         "type": "string",
         "id": 4,
         "protoName": "resource_type"
        },
        "resourceName": {
         "type": "string",
         "id": 5,
         "protoName": "resource_name"
        },
        "patternType": {
         "type": "string",
         "id": 6,
         "protoName": "pattern_type"
        }
       }
      },
      "AclFilter": {
       "oneofs": {
        "_principal": {
         "oneof": [
          "principal"
         ]
        },
        "_permission": {
         "oneof": [
          "permission"
         ]
        },
        "_operation": {
         "oneof": [
          "operation"
         ]
        },
        "_resourceType": {
         "oneof": [
          "resourceType"
         ]
        },
        "_resourceName": {
         "oneof": [
          "resourceName"
         ]
        },
        "_patternType": {
         "oneof": [
          "patternType"
         ]
        }
       },
       "fields": {
        "principal": {
         "type": "string",
         "id": 1,
         "options": {
          "proto3_optional": true
         }
        },
        "permission": {
         "type": "string",
         "id": 2,
         "options": {
          "proto3_optional": true
         }
        },
        "operation": {
         "type": "string",
         "id": 3,
         "options": {
          "proto3_optional": true
         }
        },
        "resourceType": {
         "type": "string",
         "id": 4,
         "protoName": "resource_type",
         "options": {
          "proto3_optional": true
         }
        },
        "resourceName": {
         "type": "string",
         "id": 5,
         "protoName": "resource_name",
         "options": {
          "proto3_optional": true
         }
        },
        "patternType": {
         "type": "string",
         "id": 6,
         "protoName": "pattern_type",
         "options": {
          "proto3_optional": true
         }
        }
       }
      },
      "CreateAclsRequest": {
       "fields": {
        "acls": {
         "rule": "repeated",
         "type": "AclBinding",
         "id": 1
        }
       }
      },
      "CreateAclsResponse": {
       "fields": {}
      },
      "ListAclsRequest": {
       "fields": {
        "filter": {
         "type": "AclFilter",
         "id": 1
        }
       }
      },
      "ListAclsResponse": {
       "fields": {
        "acls": {
         "rule": "repeated",
         "type": "AclBinding",
         "id": 1
        }
       }
      },
      "DeleteAclsRequest": {
       "fields": {
        "filter": {
         "type": "AclFilter",
         "id": 1
        }
       }
      },
      "DeleteAclsResponse": {
       "fields": {
        "deleted": {
         "rule": "repeated",
         "type": "AclBinding",
         "id": 1
        }
       }
      }
     }
    }
   }
  }
 }
} as INamespace;

export interface ErrorInfo {
  code: number;
  message: string;
  /** NOT_LEADER: where to retry, when known. */
  leaderId: number;
  leaderAddress: string;
}

export interface Request {
  correlationId: number;
  apiVersion: number;
  clientId: string;
  metadata: MetadataRequest | null;
  produce: ProduceRequest | null;
  fetch: FetchRequest | null;
  listOffsets: ListOffsetsRequest | null;
  createTopics: CreateTopicsRequest | null;
  deleteTopics: DeleteTopicsRequest | null;
  alterTopicConfig: AlterTopicConfigRequest | null;
  describeTopic: DescribeTopicRequest | null;
  describeCluster: DescribeClusterRequest | null;
  initProducerId: InitProducerIdRequest | null;
  joinGroup: JoinGroupRequest | null;
  heartbeat: HeartbeatRequest | null;
  leaveGroup: LeaveGroupRequest | null;
  commitOffsets: CommitOffsetsRequest | null;
  fetchOffsets: FetchOffsetsRequest | null;
  listGroups: ListGroupsRequest | null;
  describeGroup: DescribeGroupRequest | null;
  resetOffsets: ResetOffsetsRequest | null;
  registerBroker: RegisterBrokerRequest | null;
  movePartition: MovePartitionRequest | null;
  transferLeader: TransferLeaderRequest | null;
  balanceLeaders: BalanceLeadersRequest | null;
  removeBroker: RemoveBrokerRequest | null;
  saslHandshake: SaslHandshakeRequest | null;
  saslAuthenticate: SaslAuthenticateRequest | null;
  createUser: CreateUserRequest | null;
  alterUser: AlterUserRequest | null;
  deleteUser: DeleteUserRequest | null;
  listUsers: ListUsersRequest | null;
  createAcls: CreateAclsRequest | null;
  listAcls: ListAclsRequest | null;
  deleteAcls: DeleteAclsRequest | null;
  describeBroker: DescribeBrokerRequest | null;
  /** Which member of the oneof is set (undefined: none). */
  body?: 'metadata' | 'produce' | 'fetch' | 'listOffsets' | 'createTopics' | 'deleteTopics' | 'alterTopicConfig' | 'describeTopic' | 'describeCluster' | 'initProducerId' | 'joinGroup' | 'heartbeat' | 'leaveGroup' | 'commitOffsets' | 'fetchOffsets' | 'listGroups' | 'describeGroup' | 'resetOffsets' | 'registerBroker' | 'movePartition' | 'transferLeader' | 'balanceLeaders' | 'removeBroker' | 'saslHandshake' | 'saslAuthenticate' | 'createUser' | 'alterUser' | 'deleteUser' | 'listUsers' | 'createAcls' | 'listAcls' | 'deleteAcls' | 'describeBroker';
}

export interface Response {
  correlationId: number;
  /** Set when the request as a whole failed; the body may then be absent. */
  error: ErrorInfo | null;
  metadata: MetadataResponse | null;
  produce: ProduceResponse | null;
  fetch: FetchResponse | null;
  listOffsets: ListOffsetsResponse | null;
  createTopics: CreateTopicsResponse | null;
  deleteTopics: DeleteTopicsResponse | null;
  alterTopicConfig: AlterTopicConfigResponse | null;
  describeTopic: DescribeTopicResponse | null;
  describeCluster: DescribeClusterResponse | null;
  initProducerId: InitProducerIdResponse | null;
  joinGroup: JoinGroupResponse | null;
  heartbeat: HeartbeatResponse | null;
  leaveGroup: LeaveGroupResponse | null;
  commitOffsets: CommitOffsetsResponse | null;
  fetchOffsets: FetchOffsetsResponse | null;
  listGroups: ListGroupsResponse | null;
  describeGroup: DescribeGroupResponse | null;
  resetOffsets: ResetOffsetsResponse | null;
  registerBroker: RegisterBrokerResponse | null;
  movePartition: MovePartitionResponse | null;
  transferLeader: TransferLeaderResponse | null;
  balanceLeaders: BalanceLeadersResponse | null;
  removeBroker: RemoveBrokerResponse | null;
  saslHandshake: SaslHandshakeResponse | null;
  saslAuthenticate: SaslAuthenticateResponse | null;
  createUser: CreateUserResponse | null;
  alterUser: AlterUserResponse | null;
  deleteUser: DeleteUserResponse | null;
  listUsers: ListUsersResponse | null;
  createAcls: CreateAclsResponse | null;
  listAcls: ListAclsResponse | null;
  deleteAcls: DeleteAclsResponse | null;
  describeBroker: DescribeBrokerResponse | null;
  /** Which member of the oneof is set (undefined: none). */
  body?: 'metadata' | 'produce' | 'fetch' | 'listOffsets' | 'createTopics' | 'deleteTopics' | 'alterTopicConfig' | 'describeTopic' | 'describeCluster' | 'initProducerId' | 'joinGroup' | 'heartbeat' | 'leaveGroup' | 'commitOffsets' | 'fetchOffsets' | 'listGroups' | 'describeGroup' | 'resetOffsets' | 'registerBroker' | 'movePartition' | 'transferLeader' | 'balanceLeaders' | 'removeBroker' | 'saslHandshake' | 'saslAuthenticate' | 'createUser' | 'alterUser' | 'deleteUser' | 'listUsers' | 'createAcls' | 'listAcls' | 'deleteAcls' | 'describeBroker';
}

export interface BrokerInfo {
  id: number;
  /** HOST:PORT as advertised */
  address: string;
  /** the Kafka listener's HOST:PORT as advertised; empty: none */
  kafkaAddress: string;
  /** --rack; empty: none */
  rack: string;
}

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

/** Topic configuration. In AlterTopicConfig only the fields present change. */
export interface TopicConfig {
  /** -1: keep forever */
  retentionMs: number | null;
  /** -1: no size limit */
  retentionBytes: number | null;
  segmentBytes: number | null;
}

export interface TopicResult {
  topic: string;
  error: ErrorInfo | null;
}

/** Where to start reading. VALUE is the timestamp (ms) for BY_TIMESTAMP, the offset for EXACT. */
export const OffsetSpec = {
  OFFSET_LATEST: 0,
  OFFSET_EARLIEST: 1,
  OFFSET_BY_TIMESTAMP: 2,
  OFFSET_EXACT: 3,
  OFFSET_MAX_TIMESTAMP: 4,
} as const;
export type OffsetSpec = (typeof OffsetSpec)[keyof typeof OffsetSpec];

/** No topics: every topic (also how `topic list` works). */
export interface MetadataRequest {
  topics: string[];
}

export interface PartitionMetadata {
  partition: number;
  /** 0: no leader right now */
  leader: number;
  /** lets a client ignore older metadata than it has */
  leaderTerm: number;
  replicas: number[];
  inSync: number[];
}

export interface TopicMetadata {
  topic: string;
  /** UNKNOWN_TOPIC for a named topic that does not exist */
  error: ErrorInfo | null;
  partitions: PartitionMetadata[];
}

export interface MetadataResponse {
  brokers: BrokerInfo[];
  /** 0: no controller leader right now */
  controllerId: number;
  topics: TopicMetadata[];
}

export const Acks = {
  ACKS_ALL: 0,
  ACKS_LEADER: 1,
  ACKS_NONE: 2,
} as const;
export type Acks = (typeof Acks)[keyof typeof Acks];

/** Record batches (protocol/batch.ts) for any number of partitions, each of which the broker asked should lead. Every partition is answered on its own: one partition's NOT_LEADER or CRC error does not fail the others. With acks none there is no answer. */
export interface ProduceRequest {
  acks: Acks;
  timeoutMs: number;
  partitions: ProducePartition[];
}

export interface ProducePartition {
  topic: string;
  partition: number;
  batch: Buffer;
}

export interface ProduceResponse {
  /** In the request's order. */
  partitions: ProducePartitionResult[];
}

export interface ProducePartitionResult {
  topic: string;
  partition: number;
  error: ErrorInfo | null;
  baseOffset: number;
  lastOffset: number;
  logStartOffset: number;
}

export interface FetchPartition {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
}

/** Answers when min_bytes are available over all partitions, or after max_wait_ms. */
export interface FetchRequest {
  partitions: FetchPartition[];
  maxWaitMs: number;
  minBytes: number;
  /** whole response; 0: no limit beyond the frame size */
  maxBytes: number;
}

export interface FetchedPartition {
  topic: string;
  partition: number;
  error: ErrorInfo | null;
  /** one past the last committed offset on this replica */
  highWatermark: number;
  logStartOffset: number;
  /** Whole batches, concatenated; the last one may be cut short by max_bytes (the reader ignores a partial batch at the end, see batchBounds in protocol/batch.ts). */
  records: Buffer;
}

export interface FetchResponse {
  partitions: FetchedPartition[];
}

export interface ListOffsetsPartition {
  topic: string;
  partition: number;
  spec: OffsetSpec;
  value: number;
}

export interface ListOffsetsRequest {
  partitions: ListOffsetsPartition[];
}

export interface ListedOffset {
  topic: string;
  partition: number;
  error: ErrorInfo | null;
  /** -1: no record at or after the timestamp */
  offset: number;
  /** BY_TIMESTAMP: the timestamp of the record found; else -1 */
  timestamp: number;
}

export interface ListOffsetsResponse {
  offsets: ListedOffset[];
}

export interface NewTopic {
  topic: string;
  partitions: number;
  replication: number;
  config: TopicConfig | null;
}

/** Answers once every partition of every created topic has a leader, or after timeout_ms. */
export interface CreateTopicsRequest {
  topics: NewTopic[];
  timeoutMs: number;
}

export interface CreateTopicsResponse {
  results: TopicResult[];
}

export interface DeleteTopicsRequest {
  topics: string[];
}

export interface DeleteTopicsResponse {
  results: TopicResult[];
}

export interface AlterTopicConfigRequest {
  topic: string;
  config: TopicConfig | null;
}

export interface AlterTopicConfigResponse {
}

export interface DescribeTopicRequest {
  topic: string;
}

export interface PartitionDescription {
  partition: number;
  /** 0: none */
  leader: number;
  replicas: number[];
  inSync: number[];
  highWatermark: number;
  logStartOffset: number;
  /** While the partition moves: the replicas it moves from (empty otherwise). */
  movingFrom: number[];
}

export interface DescribeTopicResponse {
  topic: string;
  partitions: PartitionDescription[];
  /** every field present: the effective values */
  config: TopicConfig | null;
}

export interface DescribeClusterRequest {
}

export interface BrokerStatus {
  id: number;
  address: string;
  alive: boolean;
  /** partitions this broker leads */
  leaders: number;
}

export interface DescribeClusterResponse {
  /** 0: none */
  controllerId: number;
  brokers: BrokerStatus[];
}

/** One broker's own sight, for the operations console of another broker (sent by brokers): the partitions it leads with their in-sync replicas and high watermarks, its replica counts, its traffic samples, and the consumer groups when it is the controller leader. JSON (broker/ops/console-sight.ts): an operations document that changes with the console, not a client API, so it carries no schema of its own here. */
export interface DescribeBrokerRequest {
}

export interface DescribeBrokerResponse {
  sightJson: string;
}

/** Idempotent producers. Without producer_id: a new id. With it: the same id, next epoch. */
export interface InitProducerIdRequest {
  producerId: number | null;
  producerEpoch: number;
}

export interface InitProducerIdResponse {
  producerId: number;
  producerEpoch: number;
}

/** First join: empty member_id; the response names the member. Rejoining members send theirs. */
export interface JoinGroupRequest {
  groupId: string;
  memberId: string;
  topics: string[];
  sessionTimeoutMs: number;
  /** Partitions the member still reads (a rejoin after a coordinator change or a lost session): the coordinator keeps them with the member when nobody else holds them. */
  owned: TopicPartitions[];
}

export interface JoinGroupResponse {
  memberId: string;
  generation: number;
  assignment: TopicPartitions[];
  heartbeatIntervalMs: number;
}

/** The response carries the member's current assignment; a new generation means it changed. `generation` is the latest one whose assignment the member has applied: partitions taken away by then are released (no longer fetched, positions committed). */
export interface HeartbeatRequest {
  groupId: string;
  memberId: string;
  generation: number;
}

export interface HeartbeatResponse {
  generation: number;
  assignment: TopicPartitions[];
}

export interface LeaveGroupRequest {
  groupId: string;
  memberId: string;
}

export interface LeaveGroupResponse {
}

export interface PartitionOffset {
  topic: string;
  partition: number;
  /** next offset to read; -1: none committed */
  offset: number;
  /** responses only */
  error: ErrorInfo | null;
}

export interface CommitOffsetsRequest {
  groupId: string;
  memberId: string;
  generation: number;
  offsets: PartitionOffset[];
}

export interface CommitOffsetsResponse {
  offsets: PartitionOffset[];
}

/** No partitions: every partition the group has committed. */
export interface FetchOffsetsRequest {
  groupId: string;
  partitions: TopicPartitions[];
}

export interface FetchOffsetsResponse {
  offsets: PartitionOffset[];
}

export interface ListGroupsRequest {
}

export interface GroupListing {
  groupId: string;
  /** "stable", "rebalancing", "empty" */
  state: string;
  members: number;
}

export interface ListGroupsResponse {
  groups: GroupListing[];
}

export interface DescribeGroupRequest {
  groupId: string;
}

export interface GroupMember {
  memberId: string;
  clientId: string;
  clientAddress: string;
  assignment: TopicPartitions[];
}

export interface DescribeGroupResponse {
  groupId: string;
  state: string;
  generation: number;
  members: GroupMember[];
  offsets: PartitionOffset[];
}

/** Only while the group has no members. No partitions: every partition of the topic. */
export interface ResetOffsetsRequest {
  groupId: string;
  topic: string;
  partitions: number[];
  spec: OffsetSpec;
  value: number;
  /** When present: the exact offset of each partition (the client resolved earliest/latest at the partition leaders); spec and value are then ignored. */
  offsets: PartitionOffset[];
}

export interface ResetOffsetsResponse {
  offsets: PartitionOffset[];
}

/** `broker start --join`: a new broker asks to be added to the cluster. A broker already registered sends it again to record a new Kafka address or rack. */
export interface RegisterBrokerRequest {
  brokerId: number;
  address: string;
  /** empty: no Kafka listener */
  kafkaAddress: string;
  /** empty: none */
  rack: string;
}

export interface RegisterBrokerResponse {
  clusterId: string;
  controllerId: number;
  brokers: BrokerInfo[];
  /** the brokers that vote on the metadata (group 0) */
  controllerVoters: number[];
}

export interface MovePartitionRequest {
  topic: string;
  partition: number;
  replicas: number[];
  /** Sent by the partition's leader (not by users) once the group's voters are `replicas`. */
  completed: boolean;
}

export interface MovePartitionResponse {
}

export interface TransferLeaderRequest {
  topic: string;
  partition: number;
  to: number;
}

export interface TransferLeaderResponse {
}

export interface BalanceLeadersRequest {
}

export interface BalanceLeadersResponse {
  /** leadership transfers started */
  transfers: number;
}

export interface RemoveBrokerRequest {
  brokerId: number;
}

export interface RemoveBrokerResponse {
}

export interface SaslHandshakeRequest {
  /** "SCRAM-SHA-256" or "SCRAM-SHA-512" */
  mechanism: string;
}

export interface SaslHandshakeResponse {
  /** the mechanisms this broker accepts */
  mechanisms: string[];
}

export interface SaslAuthenticateRequest {
  authBytes: Buffer;
}

export interface SaslAuthenticateResponse {
  authBytes: Buffer;
}

/** What the broker stores for a user (protocol/scram.ts ScramCredential): derived by the client, never a password. */
export interface ScramCredential {
  /** "scram-sha-256" or "scram-sha-512" */
  mechanism: string;
  /** base64 */
  salt: string;
  iterations: number;
  /** base64 */
  storedKey: string;
  /** base64 */
  serverKey: string;
}

/** USER_EXISTS when the user exists with another credential. */
export interface CreateUserRequest {
  name: string;
  credential: ScramCredential | null;
}

export interface CreateUserResponse {
}

/** A new password for an existing user (UNKNOWN_USER otherwise); closes its connections. */
export interface AlterUserRequest {
  name: string;
  credential: ScramCredential | null;
}

export interface AlterUserResponse {
}

export interface DeleteUserRequest {
  name: string;
}

export interface DeleteUserResponse {
}

export interface ListUsersRequest {
}

export interface UserListing {
  name: string;
  mechanism: string;
  iterations: number;
}

export interface ListUsersResponse {
  users: UserListing[];
}

/** protocol/acls.ts AclBinding. */
export interface AclBinding {
  /** User:NAME or User:* */
  principal: string;
  /** allow | deny */
  permission: string;
  /** read | write | create | delete | alter | describe | all */
  operation: string;
  /** topic | group | cluster */
  resourceType: string;
  /** "" for the cluster */
  resourceName: string;
  /** literal | prefixed */
  patternType: string;
}

/** Fields present must be equal; absent fields match anything. */
export interface AclFilter {
  principal: string | null;
  permission: string | null;
  operation: string | null;
  resourceType: string | null;
  resourceName: string | null;
  patternType: string | null;
}

export interface CreateAclsRequest {
  acls: AclBinding[];
}

export interface CreateAclsResponse {
}

export interface ListAclsRequest {
  filter: AclFilter | null;
}

export interface ListAclsResponse {
  acls: AclBinding[];
}

export interface DeleteAclsRequest {
  filter: AclFilter | null;
}

export interface DeleteAclsResponse {
  deleted: AclBinding[];
}
