/**
 * The demo executor's workflows: small, honest examples of what executors do. Each has
 * a definition (shown by GetRunDefinition), an input schema, and a handler.
 */
import type { Job } from "../sdk/create-worker.js";
import type { RunDefaults, VersionContent } from "../workflows/workflows.js";

/** A demo workflow: its slug, stored content, and the code that performs it. */
export interface DemoWorkflow {
  readonly slug: string;
  readonly content: VersionContent;
  readonly handler: (job: Job) => Promise<unknown>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

const defaults = (extra: RunDefaults = {}): RunDefaults => ({ ...extra });

/** echo: returns its input. */
const echo: DemoWorkflow = {
  slug: "echo",
  content: { definition: { description: "Returns its input as the result." }, inputSchema: undefined, defaults: defaults() },
  handler: async (job) => {
    await job.emit("log", { message: "echoing input" });
    return job.input;
  },
};

/** sleep: waits `seconds`, emitting a progress event per step; stops when cancelled. */
const sleepWorkflow: DemoWorkflow = {
  slug: "sleep",
  content: {
    definition: { description: "Sleeps, reporting progress; honours cancellation." },
    inputSchema: {
      type: "object",
      properties: { seconds: { type: "number", minimum: 0, maximum: 3600 }, steps: { type: "integer", minimum: 1, maximum: 1000 } },
      required: ["seconds"],
    },
    defaults: defaults(),
  },
  handler: async (job) => {
    const { seconds, steps = 10 } = job.input as { seconds: number; steps?: number };
    for (let step = 1; step <= steps; step++) {
      await sleep((seconds * 1000) / steps, job.signal);
      await job.progress(step / steps, `step ${step} of ${steps}`);
    }
    return { sleptSeconds: seconds };
  },
};

/** flaky: fails its first `failures` attempts, then succeeds (shows retries and backoff). */
const flaky: DemoWorkflow = {
  slug: "flaky",
  content: {
    definition: { description: "Fails the first N attempts, then succeeds." },
    inputSchema: { type: "object", properties: { failures: { type: "integer", minimum: 0, maximum: 9 } } },
    defaults: defaults({ maxAttempts: 10, backoffMs: 200 }),
  },
  handler: async (job) => {
    const { failures = 2 } = (job.input ?? {}) as { failures?: number };
    if (job.attempt <= failures) throw new Error(`attempt ${job.attempt} fails on purpose (${failures} failures asked for)`);
    return { succeededOnAttempt: job.attempt };
  },
};

/** approval: pauses for a person's decision, then reports it. */
const approval: DemoWorkflow = {
  slug: "approval",
  content: {
    definition: { description: "Interrupts for approval, then finishes with the decision." },
    inputSchema: { type: "object", properties: { request: { type: "string" } } },
    defaults: defaults(),
  },
  handler: async (job) => {
    if (job.resumeInput === undefined) {
      return job.interrupt(
        "approval needed",
        { request: (job.input as { request?: string } | null)?.request ?? "" },
        {
          type: "object",
          properties: { approved: { type: "boolean" }, comment: { type: "string" } },
          required: ["approved"],
        },
      );
    }
    const decision = job.resumeInput as { approved: boolean; comment?: string };
    return { approved: decision.approved, comment: decision.comment ?? "" };
  },
};

/** Every demo workflow. */
export const demoWorkflows: readonly DemoWorkflow[] = [echo, sleepWorkflow, flaky, approval];
