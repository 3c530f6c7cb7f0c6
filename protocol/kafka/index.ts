/**
 * The Kafka wire codec: the public surface for a Kafka listener. See protocol/README.md.
 */
export { KAFKA_APIS, KAFKA_APIS_BY_KEY, type KafkaApi, type KafkaApiName } from './apis.js';
export { KafkaCodecError, type KafkaCodecFailure } from './errors.js';
export { DEFAULT_MAX_KAFKA_FRAME_BYTES, KafkaFrameReader } from './framing.js';
export {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  isFlexible,
  requestHeaderVersion,
  responseHeaderVersion,
  supportedApi,
  type KafkaRequest,
  type KafkaRequestHeader,
  type RequestBody,
  type RequestInput,
  type ResponseBody,
  type ResponseInput,
} from './messages.js';
export { KafkaReader, KafkaWriter } from './primitives.js';
