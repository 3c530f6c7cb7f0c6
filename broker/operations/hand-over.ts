import type { MultiRaft } from '../multiraft/multiraft.js';

/**
 * Clean shutdown's first step: hands leadership of every group led here (with other
 * voters) to its most caught-up recently active voter, then waits until none is led here
 * or `timeoutMs` passes. A group whose followers are not caught up elects a new leader
 * after the election timeout instead.
 */
export async function handOverLeadership(raft: MultiRaft, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const led = () => [...raft.all()].filter((g) => g.node.currentRole === 'leader' && g.node.status().membership.voters.length > 1);
  for (const group of led()) {
    const status = group.node.status();
    const target = Object.entries(status.progress)
      .filter(([id, p]) => status.membership.voters.includes(Number(id)) && p.recentActive)
      .sort(([, a], [, b]) => b.match - a.match)[0];
    if (!target) continue;
    try {
      raft.withNode(group, (node) => node.transferLeadership(Number(target[0])));
    } catch {
      // Not caught up: that group's followers elect a new leader after the timeout instead.
    }
  }
  while (led().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
