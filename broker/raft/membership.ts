/**
 * Group membership: voters decide elections and commits; learners receive the log and do
 * not vote. Changes are single-server (dissertation 4.1): each configuration entry differs
 * from the previous one by one server, so any majority of the old and any majority of the
 * new configuration overlap, and no joint consensus is needed.
 *
 * A configuration entry is a control batch (ControlType.CONFIG) whose payload is the whole
 * new membership as JSON: `{"voters":[1,2,3],"learners":[4]}`.
 */
import { FlotillaError } from '../../protocol/errors.js';

export interface Membership {
  voters: number[];
  learners: number[];
}

export type ConfigChange =
  | { type: 'addVoter'; id: number }
  | { type: 'addLearner'; id: number }
  | { type: 'promote'; id: number }
  | { type: 'remove'; id: number };

function invalid(message: string): FlotillaError {
  return new FlotillaError('INVALID_CONFIG', message);
}

function sorted(ids: Iterable<number>): number[] {
  return [...ids].sort((a, b) => a - b);
}

/** Validates a membership: positive integer ids, no id both voter and learner. */
export function checkMembership(m: Membership): Membership {
  const seen = new Set<number>();
  for (const id of [...m.voters, ...m.learners]) {
    if (!Number.isInteger(id) || id <= 0) throw invalid(`member id ${id} is not a positive integer`);
    if (seen.has(id)) throw invalid(`member ${id} appears twice (a member is a voter or a learner, not both)`);
    seen.add(id);
  }
  return { voters: sorted(m.voters), learners: sorted(m.learners) };
}

/** The membership after one single-server change; throws INVALID_CONFIG when it makes no sense. */
export function applyChange(m: Membership, change: ConfigChange): Membership {
  const { id } = change;
  const isVoter = m.voters.includes(id);
  const isLearner = m.learners.includes(id);
  switch (change.type) {
    case 'addVoter':
      if (isVoter) throw invalid(`${id} is already a voter`);
      if (isLearner) throw invalid(`${id} is a learner; promote it instead`);
      return checkMembership({ voters: [...m.voters, id], learners: m.learners });
    case 'addLearner':
      if (isVoter || isLearner) throw invalid(`${id} is already a member`);
      return checkMembership({ voters: m.voters, learners: [...m.learners, id] });
    case 'promote':
      if (!isLearner) throw invalid(`${id} is not a learner; add it as a learner first`);
      return checkMembership({ voters: [...m.voters, id], learners: m.learners.filter((x) => x !== id) });
    case 'remove':
      if (!isVoter && !isLearner) throw invalid(`${id} is not a member`);
      if (isVoter && m.voters.length === 1) throw invalid(`${id} is the last voter; a group needs one`);
      return checkMembership({ voters: m.voters.filter((x) => x !== id), learners: m.learners.filter((x) => x !== id) });
  }
}

export function encodeMembership(m: Membership): Buffer {
  return Buffer.from(JSON.stringify({ voters: m.voters, learners: m.learners }), 'utf8');
}

export function decodeMembership(payload: Buffer | null): Membership {
  if (!payload) throw invalid('configuration entry without a payload');
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new FlotillaError('INVALID_CONFIG', 'configuration entry payload is not JSON', {}, { cause: err });
  }
  const o = parsed as { voters?: unknown; learners?: unknown };
  if (!Array.isArray(o.voters) || !Array.isArray(o.learners)) throw invalid('configuration entry needs voters and learners arrays');
  return checkMembership({ voters: o.voters as number[], learners: o.learners as number[] });
}

export function sameMembership(a: Membership, b: Membership): boolean {
  return a.voters.join(',') === b.voters.join(',') && a.learners.join(',') === b.learners.join(',');
}
