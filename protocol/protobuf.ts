/**
 * The one place that configures protobufjs and builds the message types.
 *
 * 64-bit integers (offsets, timestamps) must decode as JS numbers, as the API promises.
 * protobufjs decodes them as `Long` objects whenever the `long` package is installed (it is
 * a dependency of protobufjs, so it always is). Unsetting `util.Long` and reconfiguring makes
 * the reader return numbers directly (no per-field toObject conversion, which cost about 2x
 * on decode, see protocol/README.md). This is process-wide and must happen before any type
 * is built, hence this module: everything in protocol/ builds its types through it.
 * Values above 2^53 lose precision; offsets are safe integers by contract.
 */
import protobuf from 'protobufjs/light.js';
import { descriptor as clientDescriptor } from './client.schema.js';
import { descriptor as peerDescriptor } from './peer.schema.js';

(protobuf.util as { Long: unknown }).Long = null;
protobuf.configure();

const clientRoot = cheapOneofs(bytesDefaultToBuffer(protobuf.Root.fromJSON(clientDescriptor).resolveAll()));
const peerRoot = cheapOneofs(bytesDefaultToBuffer(protobuf.Root.fromJSON(peerDescriptor).resolveAll()));

/**
 * protobufjs reads an absent `bytes` field as a shared empty *array*; callers expect a
 * Buffer (`readInt32BE`, `.equals`). Must run before a type's first use builds its prototype.
 */
function bytesDefaultToBuffer(namespace: protobuf.Namespace): protobuf.Root {
  const empty = Buffer.alloc(0);
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) {
      for (const field of nested.fieldsArray) {
        if (field.type === 'bytes' && !field.repeated) field.typeDefault = field.defaultValue = empty;
      }
    }
    if (nested instanceof protobuf.Namespace) bytesDefaultToBuffer(nested);
  }
  return namespace as protobuf.Root;
}

/**
 * A decoded message's oneof field (`body`: which member it holds) at the cost of one
 * property. protobufjs's setter deletes every other member from the message, and its
 * decoder sets the oneof for each member it reads: 35 deletes per client Request or
 * Response decoded, 4% of a producer's CPU. This setter deletes only the member set before
 * (the one way a decoder leaves two: the wire held both, and the last wins, as in
 * protobufjs), remembered under a symbol. The oneof is read only on decoded messages.
 * Builds each type's constructor, so it runs after bytesDefaultToBuffer.
 */
function cheapOneofs(namespace: protobuf.Namespace): protobuf.Root {
  for (const nested of namespace.nestedArray) {
    // A proto3 `optional` field is a oneof of one member, whose setter deletes nothing.
    const oneofs = nested instanceof protobuf.Type ? nested.oneofsArray.filter((oneof) => oneof.fieldsArray.length > 1) : [];
    if (oneofs.length > 0) {
      // protobufjs defines its accessors unconfigurable: the constructor gets a new prototype.
      const ctor = (nested as protobuf.Type).ctor;
      const descriptors = Object.getOwnPropertyDescriptors(ctor.prototype);
      for (const oneof of oneofs) descriptors[oneof.name] = oneofAccessor(oneof.name);
      ctor.prototype = Object.create(Object.getPrototypeOf(ctor.prototype), descriptors);
    }
    if (nested instanceof protobuf.Namespace) cheapOneofs(nested);
  }
  return namespace as protobuf.Root;
}

function oneofAccessor(name: string): PropertyDescriptor {
  const chosen = Symbol(name);
  return {
    get(this: Record<symbol, string | undefined>): string | undefined {
      return this[chosen];
    },
    set(this: Record<string | symbol, unknown>, member: string) {
      const before = this[chosen] as string | undefined;
      if (before !== undefined && before !== member) delete this[before];
      this[chosen] = member;
    },
    enumerable: false,
    configurable: true,
  };
}

export const ClientRequestType = clientRoot.lookupType('flotilla.client.Request');
export const ClientResponseType = clientRoot.lookupType('flotilla.client.Response');
export const PeerMessageType = peerRoot.lookupType('flotilla.peer.PeerMessage');

export { protobuf, clientRoot, peerRoot };
