/** Consumer-group requests: the coordinator is the controller leader (NOT_CONTROLLER elsewhere). */
import type { Handlers } from '../requests/dispatcher.js';
import type { GroupCoordinator } from './coordinator.js';

type GroupRequests = 'joinGroup' | 'heartbeat' | 'leaveGroup' | 'commitOffsets' | 'fetchOffsets' | 'listGroups' | 'describeGroup' | 'resetOffsets';

export function groupHandlers(groups: GroupCoordinator): Pick<Handlers, GroupRequests> {
  return {
    joinGroup: async (request, context) => groups.join(request, context.clientId, context.remote),
    heartbeat: async (request) => groups.heartbeat(request),
    leaveGroup: async (request) => {
      groups.leave(request);
      return {};
    },
    commitOffsets: (request) => groups.commitOffsets(request),
    fetchOffsets: async (request) => groups.fetchOffsets(request),
    listGroups: async () => groups.listGroups(),
    describeGroup: async (request) => groups.describeGroup(request),
    resetOffsets: (request) => groups.resetOffsets(request),
  };
}
