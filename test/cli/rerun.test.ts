/**
 * `runline runs rerun <id> [--label k=v] [--idempotency-key k]`, run as a real process:
 * what it prints for people and scripts, its replay, and its exit codes for a live run
 * (5, refused) and an unknown one (3).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { json, type TenantFixture } from "../support/clients.js";
import { cliTenant } from "./cli-tenant.js";
import { runCli } from "./run-cli.js";

let tenant: TenantFixture;
let asTenant: Record<string, string>;

beforeAll(async () => {
  ({ tenant, env: asTenant } = await cliTenant({ counter: true }));
});

describe("runline runs rerun", () => {
  it("starts a finished run again with a label replaced, replays its key, and get shows the link", async () => {
    const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 9 }), labels: { team: "cli", keep: "me" } });
    await tenant.runs().cancelRun({ runId: run!.id });
    const args = ["runs", "rerun", run!.id, "--label", "team=again", "--idempotency-key", "cli-rerun"];
    const created = await runCli(args, asTenant);
    expect(created.code, created.stderr).toBe(0);
    const match = /^created run ([0-9a-f-]{36}) {2}counter {2}QUEUED {2}rerun of ([0-9a-f-]{36})\n$/.exec(created.stdout);
    expect(match, created.stdout).not.toBeNull();
    const rerunId = match![1]!;
    expect(match![2]).toBe(run!.id);
    const replayed = await runCli([...args, "--json"], asTenant);
    expect(JSON.parse(replayed.stdout)).toMatchObject({
      run: { id: rerunId, rerunOf: run!.id, labels: { team: "again", keep: "me" }, input: { n: 9 } },
      idempotentReplayed: true,
    });
    const shown = await runCli(["runs", "get", rerunId], asTenant);
    expect(shown.stdout).toContain(`\nrerun of: ${run!.id}\n`);
    const original = await runCli(["runs", "get", run!.id], asTenant);
    expect(original.stdout).not.toContain("rerun of");
  });

  it("exits 5 for a live run and 3 for an unknown one, saying why on stderr", async () => {
    const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
    const [live, unknown] = await Promise.all([
      runCli(["runs", "rerun", run!.id], asTenant),
      runCli(["runs", "rerun", "00000000-0000-4000-8000-000000000000"], asTenant),
    ]);
    expect([live.code, live.stdout]).toEqual([5, ""]);
    expect(live.stderr).toBe("runline: failed_precondition: run is QUEUED; only finished runs can be rerun (cancel it first)\n");
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/^runline: not_found: .+\n$/);
  });
});
