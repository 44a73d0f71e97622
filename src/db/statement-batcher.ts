/**
 * Natural batching ("group commit") for hot single-row statements. Calls that share a
 * key go to the database at most `maxInFlight` statements at a time: a call that finds
 * a free place runs at once, with whatever else is waiting; those that arrive while
 * all places are taken wait, and then go together in the next statement. Nothing is
 * held back on purpose, so an idle server adds no latency, and a busy one pays one round
 * trip, one plan and one commit for many calls. Two places rather than one let a
 * statement run while another waits for its commit to reach the disk.
 *
 * When a batch of several fails, each of its calls is retried alone, so one call's
 * failure (or a deadlock with another statement) is never another call's error.
 */

/**
 * Runs one statement for `items`, all of one group (the tenant, say, or a tenant and a
 * workflow set: what the statement needs once beside its items); answers in their order.
 */
export type BatchExecutor<Group, Item, Answer> = (group: Group, items: readonly Item[]) => Promise<readonly Answer[]>;

interface Pending<Group, Item, Answer> {
  readonly group: Group;
  readonly item: Item;
  resolve(answer: Answer): void;
  reject(error: unknown): void;
}

/**
 * A batcher: `submit(key, group, item)` resolves with that item's answer. Items of one
 * key share statements, so a key must name its group (it is read from the first item).
 */
export interface StatementBatcher<Group, Item, Answer> {
  submit(key: string, group: Group, item: Item): Promise<Answer>;
}

/** `maxBatch` bounds the items of one statement (parameters, result size, lock count). */
export function createStatementBatcher<Group, Item, Answer>(
  maxBatch: number,
  execute: BatchExecutor<Group, Item, Answer>,
  maxInFlight = 1,
): StatementBatcher<Group, Item, Answer> {
  /** Per key: the calls waiting, and how many statements are in flight. */
  const keys = new Map<string, { waiting: Pending<Group, Item, Answer>[]; inFlight: number }>();

  const runBatch = async (key: string, batch: readonly Pending<Group, Item, Answer>[]): Promise<void> => {
    try {
      const answers = await execute(
        batch[0]!.group,
        batch.map((pending) => pending.item),
      );
      batch.forEach((pending, index) => pending.resolve(answers[index]!));
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      await Promise.all(batch.map((pending) => runBatch(key, [pending])));
    }
  };

  // Runs statements for the key while calls wait; the last one out forgets the key.
  const work = async (key: string, state: { waiting: Pending<Group, Item, Answer>[]; inFlight: number }): Promise<void> => {
    state.inFlight++;
    while (state.waiting.length > 0) await runBatch(key, state.waiting.splice(0, maxBatch));
    state.inFlight--;
    if (state.inFlight === 0 && state.waiting.length === 0) keys.delete(key);
  };

  return {
    submit(key, group, item) {
      return new Promise<Answer>((resolve, reject) => {
        let state = keys.get(key);
        if (state === undefined) keys.set(key, (state = { waiting: [], inFlight: 0 }));
        state.waiting.push({ group, item, resolve, reject });
        if (state.inFlight < maxInFlight) void work(key, state);
      });
    },
  };
}
