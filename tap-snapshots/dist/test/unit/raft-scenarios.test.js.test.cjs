/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`dist/test/unit/raft-scenarios.test.js > TAP > a configuration takes effect when appended and reverts when its entry is truncated > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
1: membership index=2 voters=[1,2,3] learners=[9]
2: campaign term=2 kind=pre-vote
2: campaign term=2 kind=vote
2: elected term=2
1: step-down term=2 why=a higher term
1: follow term=2 leader=2
1: truncated after=1 lastIndexBefore=2
1: membership index=0 voters=[1,2,3] learners=[] undone=true
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > a leader that loses its quorum steps down (check-quorum) > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
1: step-down term=1 why=lost its quorum
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > a partitioned old leader cannot commit, steps down, and loses its uncommitted entry > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
2: campaign term=2 kind=pre-vote
2: campaign term=2 kind=vote
2: elected term=2
1: step-down term=1 why=lost its quorum
1: follow term=2 leader=2
1: truncated after=1 lastIndexBefore=2
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > check-quorum lease: followers that hear their leader ignore a vote request of a higher term > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
2: vote-refused term=6 candidate=3 kind=vote why=heard from leader 1 within the election timeout
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > Figure 8: an entry of an earlier term on a majority is not committed by counting > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
1: step-down term=1 why=lost its quorum
5: campaign term=2 kind=pre-vote
2: vote-refused term=2 candidate=5 kind=pre-vote why=its log (last 2 of term 1) is ahead of the candidate's (last 1 of term 1)
5: campaign term=2 kind=vote
2: vote-refused term=2 candidate=5 kind=vote why=its log (last 2 of term 1) is ahead of the candidate's (last 1 of term 1)
5: elected term=2
5: step-down term=2 why=lost its quorum
1: campaign term=2 kind=pre-vote
3: vote-refused term=2 candidate=1 kind=pre-vote why=voted for 5 in term 2
4: vote-refused term=2 candidate=1 kind=pre-vote why=voted for 5 in term 2
1: campaign term=3 kind=pre-vote
1: campaign term=3 kind=vote
1: elected term=3
1: step-down term=3 why=lost its quorum
5: campaign term=3 kind=pre-vote
2: vote-refused term=3 candidate=5 kind=pre-vote why=voted for 1 in term 3
3: vote-refused term=3 candidate=5 kind=pre-vote why=voted for 1 in term 3
4: vote-refused term=3 candidate=5 kind=pre-vote why=voted for 1 in term 3
5: campaign term=4 kind=pre-vote
2: vote-refused term=4 candidate=5 kind=pre-vote why=its log (last 3 of term 3) is ahead of the candidate's (last 2 of term 2)
5: campaign term=4 kind=vote
2: vote-refused term=4 candidate=5 kind=vote why=its log (last 3 of term 3) is ahead of the candidate's (last 2 of term 2)
5: elected term=4
2: truncated after=1 lastIndexBefore=3
3: truncated after=1 lastIndexBefore=2
4: truncated after=1 lastIndexBefore=2
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > leader lost: a follower told that its live leader's connection closed pre-votes in vain, and the leader keeps its group > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
2: leader-lost term=1 leader=1
2: campaign term=2 kind=pre-vote
1: vote-refused term=2 candidate=2 kind=pre-vote why=heard from leader 1 within the election timeout
3: vote-refused term=2 candidate=2 kind=pre-vote why=heard from leader 1 within the election timeout
2: follow term=1 leader=1
2: leader-lost term=1 leader=1
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > leader lost: the followers of a killed leader elect another at once, not an election timeout later > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
2: leader-lost term=1 leader=1
3: leader-lost term=1 leader=1
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=vote
3: elected term=2
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > leadership transfer to a caught-up voter, refused to a laggard, and proposals refused meanwhile > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
2: campaign term=2 kind=transfer
1: step-down term=2 why=a higher term
2: elected term=2
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > lost entries: a recovering replica asks a silent leader for what it lost > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
2: recovered term=1 lastIndex=2
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > lost entries: a replica that lost acknowledged entries neither votes nor campaigns until it holds them again > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
3: campaign term=2 kind=pre-vote
2: vote-refused term=2 candidate=3 kind=pre-vote why=recovering entries up to 2 it lost
3: campaign term=2 kind=pre-vote
2: vote-refused term=2 candidate=3 kind=pre-vote why=recovering entries up to 2 it lost
3: campaign term=2 kind=pre-vote
2: vote-refused term=2 candidate=3 kind=pre-vote why=recovering entries up to 2 it lost
3: follow term=1 leader=1
2: recovered term=1 lastIndex=2
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > pre-vote: an isolated node that keeps campaigning does not inflate its term or disrupt on return > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: campaign term=2 kind=pre-vote
3: follow term=1 leader=1
`

exports[`dist/test/unit/raft-scenarios.test.js > TAP > removing the leader itself: it leads until the change commits, then hands over > the decisions 1`] = `
1: campaign term=1 kind=pre-vote
1: campaign term=1 kind=vote
1: elected term=1
1: membership index=3 voters=[2,3] learners=[]
2: membership index=3 voters=[2,3] learners=[]
3: membership index=3 voters=[2,3] learners=[]
1: step-down term=1 why=removed from the voters
2: campaign term=2 kind=transfer
2: elected term=2
`
