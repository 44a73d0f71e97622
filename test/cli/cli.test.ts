/**
 * The `runline` command, run as a real process against a real server: what it prints
 * for people and for scripts (--json), and the exit codes scripts branch on.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { demoWorkflows } from "../../src/demo/demo-workflows.js";
import { clientFor, createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { runCli, startCli, type RunningCli } from "./run-cli.js";

let server: string;
let tenant: TenantFixture;
/** The environment of a tenant caller: server and key, as a user would export them. */
let asTenant: Record<string, string>;
const started: RunningCli[] = [];

beforeAll(async () => {
  server = (await startTestServer()).url;
  tenant = await createTenant(server);
  await createCounterWorkflow(tenant);
  asTenant = { RUNLINE_SERVER: server, RUNLINE_API_KEY: tenant.key };
});

afterAll(() => {
  for (const cli of started) cli.child.kill("SIGKILL");
});

const asRoot = () => ({ RUNLINE_SERVER: server, RUNLINE_ROOT_KEY: testRootKey });
const unknownRunId = "00000000-0000-4000-8000-000000000000";

describe("runline help", () => {
  it("lists every command for --help and a command's options for <command> --help, exiting 0", async () => {
    const [program, command] = await Promise.all([runCli(["--help"]), runCli(["runs", "watch", "--help"])]);
    expect(program.code).toBe(0);
    for (const name of ["serve", "migrate", "worker", "workflows create", "runs watch", "runs output", "keys revoke", "tenants create"])
      expect(program.stdout).toContain(name);
    expect(command.code).toBe(0);
    expect(command.stdout).toContain("usage: runline runs watch <run-id> [options]");
    expect(command.stdout).toContain("--after <sequence>");
  });

  it("rejects an unknown command or option with exit 2 and a usage line", async () => {
    const [command, option] = await Promise.all([runCli(["frobnicate"]), runCli(["runs", "get", "x", "--colour"])]);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/^runline: usage: unknown command "frobnicate"\nusage: runline <command>/);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("usage: runline runs get <run-id> [options]");
  });
});

describe("runline tenants and keys", () => {
  it("creates a tenant and a key whose secret --json prints once, and revoking the key locks it out (exit 4)", async () => {
    const slug = `cli-${Date.now().toString(36)}`;
    const created = await runCli(["tenants", "create", slug], asRoot());
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(new RegExp(`^created tenant ${slug} \\(`));
    const key = await runCli(["keys", "create", "--tenant", slug, "--scopes", "read,write", "--name", "ci", "--json"], asRoot());
    expect(key.code).toBe(0);
    const { secret, apiKey } = JSON.parse(key.stdout) as { secret: string; apiKey: { id: string; scopes: string[]; displayName: string } };
    expect(apiKey).toMatchObject({ scopes: ["SCOPE_READ", "SCOPE_WRITE"], displayName: "ci" });
    await expect(clientFor(WorkflowsService, "connect-json", server, secret).listWorkflows({})).resolves.toBeDefined();
    const revoked = await runCli(["keys", "revoke", "--tenant", slug, apiKey.id], asRoot());
    expect(revoked.stdout).toContain(`revoked key ${apiKey.id}`);
    const refused = await runCli(["workflows", "list", "--key", secret], { RUNLINE_SERVER: server });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/^runline: unauthenticated: /);
  });
});

describe("runline workflows", () => {
  it("creates a workflow from inline JSON and an @file schema, and lists it", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "runline-cli-"));
    const schemaFile = path.join(folder, "schema.json");
    await writeFile(schemaFile, JSON.stringify({ type: "object", properties: { name: { type: "string" } } }));
    const created = await runCli(
      [
        "workflows",
        "create",
        "greet",
        "--definition",
        '{"steps":["hello"]}',
        "--input-schema",
        `@${schemaFile}`,
        "--max-attempts",
        "3",
        "--timeout",
        "30s",
      ],
      asTenant,
    );
    expect(created.stderr).toBe("");
    expect(created.stdout).toMatch(/^created workflow greet \([0-9a-f-]{36}\) version 1\n$/);
    const [table, listed] = await Promise.all([runCli(["workflows", "list"], asTenant), runCli(["workflows", "list", "--json"], asTenant)]);
    expect(table.stdout).toMatch(/^SLUG\s+ID\s+VERSION\s+CREATED\n/);
    expect(table.stdout).toMatch(/\ngreet\s+[0-9a-f-]{36}\s+1\s+\d{4}-/);
    const slugs = (JSON.parse(listed.stdout) as { workflows: { slug: string }[] }).workflows.map((workflow) => workflow.slug);
    expect(slugs).toEqual(expect.arrayContaining(["greet", "counter"]));
  });
});

describe("runline runs", () => {
  it("creates a run, then shows it with get and list, as text and as --json", async () => {
    const created = await runCli(["runs", "create", "counter", "--input", '{"n":7}', "--label", "team=cli", "--json"], asTenant);
    expect(created.code).toBe(0);
    const run = (JSON.parse(created.stdout) as { run: { id: string; status: string } }).run;
    expect(run.status).toBe("RUN_STATUS_QUEUED");
    const [get, getJson, table, listJson] = await Promise.all([
      runCli(["runs", "get", run.id], asTenant),
      runCli(["runs", "get", run.id, "--json"], asTenant),
      runCli(["runs", "list", "--label", "team=cli", "--status", "queued"], asTenant),
      runCli(["runs", "list", "--workflow", "counter", "--limit", "1", "--json"], asTenant),
    ]);
    expect(get.stdout).toMatch(new RegExp(`^id:\\s+${run.id}\\nworkflow:\\s+counter v1\\nstatus:\\s+QUEUED\\n`));
    expect(get.stdout).toContain('input:    {"n":7}');
    expect(JSON.parse(getJson.stdout)).toMatchObject({ run: { id: run.id, labels: { team: "cli" }, input: { n: 7 } } });
    expect(table.stdout).toMatch(
      new RegExp(`^ID\\s+WORKFLOW\\s+STATUS\\s+CREATED\\n${run.id}\\s+counter\\s+QUEUED\\s+\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z\\n$`),
    );
    expect((JSON.parse(listJson.stdout) as { runs: { id: string }[] }).runs.map((listed) => listed.id)).toEqual([run.id]);
  });

  it("follows page tokens up to --limit", async () => {
    await Promise.all(
      [1, 2, 3].map((n) => tenant.runs().createRun({ workflow: "counter", input: json({ n }), labels: { paging: "yes" } })),
    );
    const listed = await runCli(["runs", "list", "--label", "paging=yes", "--limit", "2", "--json"], asTenant);
    const page = JSON.parse(listed.stdout) as { runs: unknown[]; nextPageToken?: string };
    expect(page.runs).toHaveLength(2);
    expect(page.nextPageToken).toBeTruthy();
  });

  it("create --wait on a workflow no executor performs gives up after the wait with exit 14", async () => {
    const waited = await runCli(["runs", "create", "counter", "--input", '{"n":1}', "--wait", "300ms"], asTenant);
    expect(waited.code).toBe(14);
    expect(waited.stdout).toMatch(/^run [0-9a-f-]{36} {2}counter {2}QUEUED\nQUEUED: no output yet\n$/);
  });

  it("watch prints each event as a line until a cancel from elsewhere ends the run, exiting 11", async () => {
    const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 2 }) });
    const watch = startCli(["runs", "watch", run!.id], asTenant);
    started.push(watch);
    await watch.waitForOutput(/#1 /);
    await tenant.runs().ingestRunEvents({ runId: run!.id, events: [{ type: "note", data: json({ text: "hi" }) }] });
    await tenant.runs().cancelRun({ runId: run!.id });
    const result = await watch.exited;
    expect(result.code).toBe(11);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`run ${run!.id} (counter): QUEUED`);
    expect(lines.slice(1).map((line) => line.replace(/\d{4}-\d\d-\d\dT[\d:]+Z/, "<time>"))).toEqual([
      "#1  <time>  status  QUEUED",
      '#2  <time>  note  {"text":"hi"}',
      "#3  <time>  status  CANCELLED",
    ]);
  });

  it("output prints where a run stands and exits with its outcome: 14 while queued, 11 once cancelled", async () => {
    const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 3 }) });
    const queued = await runCli(["runs", "output", run!.id], asTenant);
    expect([queued.code, queued.stdout]).toEqual([14, "QUEUED: no output yet\n"]);
    const cancelled = await runCli(["runs", "cancel", run!.id, "--reason", "not needed"], asTenant);
    expect(cancelled.stdout).toBe(`run ${run!.id}: CANCELLED\n`);
    const output = await runCli(["runs", "output", run!.id, "--wait", "1s", "--json"], asTenant);
    expect(output.code).toBe(11);
    expect(JSON.parse(output.stdout)).toEqual({ output: { status: "RUN_STATUS_CANCELLED", done: true } });
  });
});

describe("runline webhooks and deliveries", () => {
  it("creates an endpoint printing its secret once, shows, updates, rotates and deletes it", async () => {
    const created = await runCli(["webhooks", "create", "--url", "https://example.com/cli", "--events", "run.failed", "--json"], asTenant);
    expect(created.code, created.stderr).toBe(0);
    const { webhook, secret } = JSON.parse(created.stdout) as { webhook: { id: string }; secret: string };
    expect(secret).toMatch(/^whsec_/);
    const shown = await runCli(["webhooks", "get", webhook.id], asTenant);
    expect(shown.stdout).toContain("url:         https://example.com/cli");
    expect(shown.stdout).not.toContain("whsec_");
    const updated = await runCli(["webhooks", "update", webhook.id, "--disable", "--description", "paused"], asTenant);
    expect(updated.stdout).toMatch(/disabled: +yes\n/);
    expect(updated.stdout).toContain("events:      run.failed");
    const listed = await runCli(["webhooks", "list"], asTenant);
    expect(listed.stdout).toMatch(new RegExp(`^${webhook.id} +https://example.com/cli +run.failed +yes`, "m"));
    const rotated = await runCli(["webhooks", "rotate-secret", webhook.id], asTenant);
    expect(rotated.stdout.trimEnd().split("\n").pop()).toMatch(/^whsec_/);
    expect(rotated.stdout).not.toContain(secret);
    expect((await runCli(["webhooks", "delete", webhook.id], asTenant)).stdout).toBe(`deleted webhook ${webhook.id}\n`);
    expect((await runCli(["webhooks", "get", webhook.id], asTenant)).code).toBe(3);
  });

  it("prints the run-webhook secret, the same until --rotate", async () => {
    const first = await runCli(["webhooks", "run-secret"], asTenant);
    expect(first.stdout).toMatch(/^whsec_\S+\n$/);
    expect((await runCli(["webhooks", "run-secret"], asTenant)).stdout).toBe(first.stdout);
    const rotated = await runCli(["webhooks", "run-secret", "--rotate"], asTenant);
    expect(rotated.stdout).not.toBe(first.stdout);
    expect((await runCli(["webhooks", "run-secret"], asTenant)).stdout).toBe(rotated.stdout);
  });

  it("refuses a bad url with exit 5 naming the field, an unknown outcome with exit 2, an unknown delivery with exit 3", async () => {
    const [badUrl, badOutcome, missing, listed] = await Promise.all([
      runCli(["webhooks", "create", "--url", "http://example.com/"], asTenant),
      runCli(["deliveries", "list", "--outcome", "lost"], asTenant),
      runCli(["deliveries", "redeliver", unknownRunId], asTenant),
      runCli(["deliveries", "list", "--run", unknownRunId, "--outcome", "failed"], asTenant),
    ]);
    expect(badUrl.code).toBe(5);
    expect(badUrl.stderr).toMatch(/^runline: invalid_argument: url: /);
    expect(badOutcome.code).toBe(2);
    expect(badOutcome.stderr).toMatch(/^runline: usage: --outcome: unknown outcome "lost"/);
    expect(missing.code).toBe(3);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID +RUN +TYPE +OUTCOME +ATTEMPTS +LAST +CREATED\n$/);
  });
});

describe("runline errors", () => {
  it("exits 3 for an unknown run, 5 with the field named for bad input, 6 when the server is down", async () => {
    const [missing, invalid, down, noKey] = await Promise.all([
      runCli(["runs", "get", unknownRunId], asTenant),
      runCli(["runs", "create", "counter", "--input", '{"n":"seven"}'], asTenant),
      runCli(["runs", "list", "--server", "http://127.0.0.1:1"], asTenant),
      runCli(["runs", "list"], { RUNLINE_SERVER: server }),
    ]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^runline: not_found: .+\n$/);
    expect(invalid.code).toBe(5);
    expect(invalid.stderr).toMatch(/^runline: invalid_argument: input\.n: .+\n$/);
    expect(down.code).toBe(6);
    expect(down.stderr).toBe("runline: unavailable: cannot reach http://127.0.0.1:1 (ECONNREFUSED)\n");
    expect(noKey.code).toBe(4);
    expect(noKey.stderr).toBe("runline: unauthenticated: no API key: pass --key or set RUNLINE_API_KEY\n");
  });

  it("exits 2 for malformed option values before calling the server", async () => {
    const [badJson, badDuration] = await Promise.all([
      runCli(["runs", "create", "counter", "--input", "{n:1}"], asTenant),
      runCli(["runs", "output", unknownRunId, "--wait", "soon"], asTenant),
    ]);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/^runline: usage: --input: not valid JSON/);
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toMatch(/^runline: usage: --wait: expected a duration/);
  });
});

describe("runline worker", () => {
  let owner: TenantFixture;
  let workerKey: string;

  beforeAll(async () => {
    owner = await createTenant(server);
    for (const workflow of demoWorkflows.filter((candidate) => ["echo", "sleep"].includes(candidate.slug))) {
      await owner.workflows().createWorkflow({
        slug: workflow.slug,
        definition: json(workflow.content.definition as never),
        ...(workflow.content.inputSchema === undefined ? {} : { inputSchema: json(workflow.content.inputSchema as never) }),
      });
    }
    workerKey = (
      await clientFor(AdminService, "connect-json", server, testRootKey).createApiKey({ tenant: owner.tenantId, scopes: [Scope.WORKER] })
    ).secret;
  });

  it("performs the demo workflows for its tenant, shows progress, and exits 0 on SIGTERM", { timeout: 60_000 }, async () => {
    const asOwner = { RUNLINE_SERVER: server, RUNLINE_API_KEY: owner.key };
    const worker = startCli(["worker", "--workflows", "echo,sleep", "--key", workerKey], { RUNLINE_SERVER: server });
    started.push(worker);

    const echoed = await runCli(["runs", "create", "echo", "--input", '{"hello":"cli"}', "--wait", "20s"], asOwner);
    expect(echoed.code).toBe(0);
    expect(echoed.stdout).toMatch(/^run [0-9a-f-]{36} {2}echo {2}SUCCEEDED\n\{\n {2}"hello": "cli"\n\}\n$/);

    const { run } = await owner.runs().createRun({ workflow: "sleep", input: json({ seconds: 0.4, steps: 4 }) });
    const watched = await runCli(["runs", "watch", run!.id], asOwner);
    expect(watched.code).toBe(0);
    expect(watched.stdout.match(/progress {2}\d+%.*/g)).toEqual([
      "progress  25% step 1 of 4",
      "progress  50% step 2 of 4",
      "progress  75% step 3 of 4",
      "progress  100% step 4 of 4",
    ]);
    expect(watched.stdout).toMatch(/status {2}SUCCEEDED\n$/);

    worker.child.kill("SIGTERM");
    const stopped = await worker.exited;
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toContain("runline worker: stopped (SIGTERM)");
  });

  it("stops with exit 3 when the tenant lacks one of the demo workflows it was asked to perform", async () => {
    const worker = await runCli(["worker", "--key", workerKey], { RUNLINE_SERVER: server });
    expect(worker.code).toBe(3);
    expect(worker.stderr).toMatch(/\nrunline: not_found: .*flaky.*\n$/);
  });
});
