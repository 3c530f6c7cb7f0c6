/** Consumer-group requests: the coordinator is the controller leader (NOT_CONTROLLER elsewhere). */
import { toErrorInfo } from '../../protocol/codec.js';
import { groupRefusal, topicRefusal, type Handlers } from '../requests/dispatcher.js';
import type { GroupCoordinator } from './coordinator.js';

type GroupRequests = 'joinGroup' | 'heartbeat' | 'leaveGroup' | 'commitOffsets' | 'fetchOffsets' | 'listGroups' | 'describeGroup' | 'resetOffsets';

export function groupHandlers(groups: GroupCoordinator): Pick<Handlers, GroupRequests> {
  return {
    // A topic the principal may not describe refuses the join, as a named topic does elsewhere.
    joinGroup: async (request, context) => {
      for (const topic of request.topics) {
        const refusal = topicRefusal(context, topic);
        if (refusal) throw refusal;
      }
      return groups.join(request, context.clientId, context.remote);
    },
    heartbeat: async (request) => groups.heartbeat(request),
    leaveGroup: async (request) => {
      groups.leave(request);
      return {};
    },
    // Offsets of topics the principal may not read are refused one by one.
    commitOffsets: async (request, context) => {
      const refused = request.offsets.filter((o) => topicRefusal(context, o.topic));
      if (refused.length === 0) return groups.commitOffsets(request);
      const allowed = request.offsets.filter((o) => !topicRefusal(context, o.topic));
      const committed = allowed.length > 0 ? (await groups.commitOffsets({ ...request, offsets: allowed })).offsets ?? [] : [];
      return { offsets: [...committed, ...refused.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, error: toErrorInfo(topicRefusal(context, o.topic)!) }))] };
    },
    // Named partitions of a refused topic answer the refusal; a listing leaves them out.
    fetchOffsets: async (request, context) => {
      const named = request.partitions.length > 0;
      const offsets = (groups.fetchOffsets(request).offsets ?? []).flatMap((o) => {
        const refusal = topicRefusal(context, o.topic ?? '');
        if (!refusal) return [o];
        return named ? [{ topic: o.topic, partition: o.partition, offset: -1, error: toErrorInfo(refusal) }] : [];
      });
      return { offsets };
    },
    listGroups: async (_request, context) => {
      const listing = groups.listGroups();
      return { groups: (listing.groups ?? []).filter((g) => !groupRefusal(context, g.groupId ?? '')) };
    },
    describeGroup: async (request, context) => {
      const described = groups.describeGroup(request);
      const visible = (topic: string | null | undefined) => !topicRefusal(context, topic ?? '');
      return {
        ...described,
        members: (described.members ?? []).map((m) => ({ ...m, assignment: (m.assignment ?? []).filter((a) => visible(a.topic)) })),
        offsets: (described.offsets ?? []).filter((o) => visible(o.topic)),
      };
    },
    resetOffsets: (request) => groups.resetOffsets(request),
  };
}
