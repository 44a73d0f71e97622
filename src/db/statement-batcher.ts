/**
 * Natural batching ("group commit") for hot single-row statements. Calls that share a
 * key go to the database one statement at a time: the first runs at once, alone; those
 * that arrive while it is in flight wait for it and then go together in the next
 * statement. Nothing is held back on purpose, so an idle server adds no latency, and a
 * busy one pays one round trip, one plan and one commit for many calls.
 *
 * When a batch of several fails, each of its calls is retried alone, so one call's
 * failure (or a deadlock with another statement) is never another call's error.
 */

/** Runs one statement for `items` (all sharing `key`); answers in the same order. */
export type BatchExecutor<Item, Answer> = (key: string, items: readonly Item[]) => Promise<readonly Answer[]>;

interface Pending<Item, Answer> {
  readonly item: Item;
  resolve(answer: Answer): void;
  reject(error: unknown): void;
}

/** A batcher: `submit(key, item)` resolves with that item's answer. */
export interface StatementBatcher<Item, Answer> {
  submit(key: string, item: Item): Promise<Answer>;
}

/** `maxBatch` bounds the items of one statement (parameters, result size, lock count). */
export function createStatementBatcher<Item, Answer>(maxBatch: number, execute: BatchExecutor<Item, Answer>): StatementBatcher<Item, Answer> {
  const queues = new Map<string, Pending<Item, Answer>[]>();

  const runBatch = async (key: string, batch: readonly Pending<Item, Answer>[]): Promise<void> => {
    try {
      const answers = await execute(key, batch.map((pending) => pending.item));
      batch.forEach((pending, index) => pending.resolve(answers[index]!));
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      await Promise.all(batch.map((pending) => runBatch(key, [pending])));
    }
  };

  const drain = async (key: string, queue: Pending<Item, Answer>[]): Promise<void> => {
    while (queue.length > 0) await runBatch(key, queue.splice(0, maxBatch));
    queues.delete(key);
  };

  return {
    submit(key, item) {
      return new Promise<Answer>((resolve, reject) => {
        const queue = queues.get(key);
        if (queue !== undefined) return void queue.push({ item, resolve, reject });
        const fresh = [{ item, resolve, reject }];
        queues.set(key, fresh);
        void drain(key, fresh);
      });
    },
  };
}
