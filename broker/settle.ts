/**
 * Waits for every promise to settle and returns the reasons of those that rejected, in
 * order. What `Promise.allSettled` answers, without a result object and two callbacks per
 * promise: the Raft cycle settles its fsyncs this way thousands of times a second. Each
 * promise gets its handler at once, so none counts as an unhandled rejection while an
 * earlier one is still awaited.
 */
export async function settleAll(promises: ReadonlyArray<Promise<unknown>>): Promise<unknown[]> {
  const outcomes = promises.map((promise) => promise.then(succeeded, failed));
  let failures: unknown[] | undefined;
  for (const outcome of outcomes) {
    const failure = await outcome;
    if (failure) (failures ??= []).push(failure.reason);
  }
  return failures ?? [];
}

const succeeded = (): undefined => undefined;
const failed = (reason: unknown): { reason: unknown } => ({ reason });
