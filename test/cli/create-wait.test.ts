/**
 * `runline runs create --wait` follows the run it starts, as `runs watch` does: the
 * run's status and events go to stderr while it runs (one line each when stderr is not
 * a terminal), stdout keeps the run's line and its output as before, and the exit code
 * says how it ended. It stops at INTERRUPTED (exit 13) as RunAndWait does, but not at an
 * interrupt already resumed, met while replaying the log of a run found again by its
 * idempotency key.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorker, type Worker } from "../../src/sdk/create-worker.js";
import { json, type TenantFixture } from "../support/clients.js";
import { cliTenant } from "./cli-tenant.js";
import { runCli } from "./run-cli.js";

let tenant: TenantFixture;
let asTenant: Record<string, string>;
let worker: Worker;

beforeAll(async () => {
  const fixture = await cliTenant();
  ({ tenant, env: asTenant } = fixture);
  const { server } = fixture;
  for (const slug of ["copier", "asker"]) await tenant.workflows().createWorkflow({ slug, definition: json({ kind: slug }) });
  // `copier` reports progress and succeeds; `asker` asks for approval, then echoes the answer.
  worker = createWorker({
    server,
    apiKey: tenant.key,
    workflows: ["copier", "asker"],
    handler: async (job) => {
      if (job.run.workflowSlug === "asker")
        return job.resumeInput === undefined ? job.interrupt("approval needed", { ask: "deploy?" }) : { answer: job.resumeInput };
      for (const step of [1, 2]) await job.progress(step / 2, `part ${step} of 2`);
      return { copied: 2 };
    },
  });
});

afterAll(() => worker.stop({ graceMs: 1000 }));

function stable(text: string): string[] {
  return text
    .trimEnd()
    .split("\n")
    .map((line) => line.replace(/\d{4}-\d\d-\d\dT[\d:]+Z/, "<time>").replace(/[0-9a-f-]{36}/g, "<id>"));
}

describe("runs create --wait", () => {
  it("writes the run's events as lines on stderr and keeps stdout to the run's line and output", async () => {
    const result = await runCli(["runs", "create", "copier", "--wait", "30s"], asTenant);
    expect(result.code).toBe(0);
    expect(stable(result.stdout)).toEqual(["run <id>  copier  SUCCEEDED", "{", '  "copied": 2', "}"]);
    expect(stable(result.stderr).slice(1)).toEqual([
      "#1  <time>  status  QUEUED",
      "#2  <time>  status  RUNNING",
      "#3  <time>  progress  50% part 1 of 2",
      "#4  <time>  progress  100% part 2 of 2",
      "#5  <time>  status  SUCCEEDED",
    ]);
  });

  it("stops at INTERRUPTED with exit 13, and a replay of the resumed run follows it to its end", async () => {
    const key = `approve-${Date.now()}`;
    const asked = await runCli(["runs", "create", "asker", "--idempotency-key", key, "--wait", "30s"], asTenant);
    expect(asked.code, asked.stdout + asked.stderr).toBe(13);
    expect(stable(asked.stdout).slice(0, 2)).toEqual(["run <id>  asker  INTERRUPTED", "INTERRUPTED: approval needed (interrupt <id>)"]);
    expect(stable(asked.stderr).at(-1)).toBe("#3  <time>  status  INTERRUPTED");

    const runId = /^run (\S+)/.exec(asked.stdout)![1]!;
    await tenant.runs().resumeRun({ runId, input: json({ approved: true }) });
    const replayed = await runCli(["runs", "create", "asker", "--idempotency-key", key, "--wait", "30s"], asTenant);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toBe(`run ${runId}  asker  SUCCEEDED\n{\n  "answer": {\n    "approved": true\n  }\n}\n`);
    expect(stable(replayed.stderr)).toContain("#3  <time>  status  INTERRUPTED");
    expect(stable(replayed.stderr).at(-1)).toBe("#6  <time>  status  SUCCEEDED");
  });
});
