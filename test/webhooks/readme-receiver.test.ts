/**
 * The README's webhook walkthrough, run as written: its receiver one-liner (taken from
 * README.md itself, so the test fails when the README drifts) gets a run's status changes
 * and verifies each signature with the run-webhook secret.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import { connect } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { eventually } from "../support/expectations.js";
import { freePort } from "../support/free-port.js";
import { startTestServer } from "../support/test-server.js";
import { createWorkflowWith, millis, workerClient } from "../workers/worker-fixtures.js";

const root = path.join(import.meta.dirname, "../..");
const workflow = "echo";
let baseUrl: string;
let tenant: TenantFixture;
let receiver: ChildProcess | undefined;
const printed: string[] = [];

/** The JavaScript of the README's receiver (`node -e '…'`), listening on `port` instead of 9000. */
function readmeReceiver(port: number): string {
  const readme = readFileSync(path.join(root, "README.md"), "utf8");
  const match = /\| jq -r \.secret\) node -e '\n([\s\S]*?)'\n```/.exec(readme);
  if (match === null) throw new Error("README.md: the webhook receiver one-liner is missing");
  const script = match[1]!;
  expect(script).toContain("listen(9000");
  return script.replace("listen(9000", `listen(${port}`);
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (without sending it a request). */
async function canConnect(port: number): Promise<boolean> {
  const socket = connect(port, "127.0.0.1");
  try {
    await once(socket, "connect");
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32" });
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, workflow);
});

afterAll(async () => {
  if (receiver !== undefined && receiver.exitCode === null) {
    receiver.kill();
    await once(receiver, "exit");
  }
});

describe("the README's webhook receiver", () => {
  it("prints run.queued, run.running and run.succeeded, each verified", async () => {
    const { secret } = await clientFor(WebhooksService, "connect-json", baseUrl, tenant.key).getRunWebhookSecret({});
    const port = await freePort();
    // Run in the project folder, as the README says, so that require("standardwebhooks") resolves.
    receiver = spawn(process.execPath, ["-e", readmeReceiver(port)], { cwd: root, env: { ...process.env, SECRET: secret } });
    receiver.stdout!.setEncoding("utf8").on("data", (chunk: string) => printed.push(...chunk.split("\n").filter(Boolean)));
    receiver.stderr!.setEncoding("utf8").on("data", (chunk: string) => printed.push(`stderr: ${chunk}`));
    await eventually(10_000, "the receiver listening", async () => ((await canConnect(port)) ? true : undefined));

    // The README's CreateRun body, as REST JSON.
    const created = await fetch(`${baseUrl}/api/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        workflow,
        input: { n: 1 }, // the README's echo takes anything; this workflow's schema wants n
        webhook: { url: `http://127.0.0.1:${port}/hook`, intermediateStatus: true },
      }),
    });
    expect(created.status).toBe(200);
    const runId = ((await created.json()) as { run: { id: string } }).run.id;
    const worker = workerClient(tenant, baseUrl);
    const { leases } = await worker.claimRuns({ workerId: "w", workflows: [workflow], maxRuns: 1, waitTimeout: millis(2000) });
    await worker.completeRun({ runId, leaseId: leases[0]!.leaseId, output: json({ n: 1 }) });

    // The receiver prints "verified …" and the body as two lines, which may come in two
    // chunks: wait for both of the third delivery (CI once saw the third "verified" alone).
    const bodies = await eventually(15_000, "three verified deliveries", async () => {
      const verified = printed.filter((line) => line.startsWith("verified msg_"));
      const printedBodies = printed.filter((line) => line.startsWith("{"));
      return verified.length >= 3 && printedBodies.length >= 3 ? printedBodies : undefined;
    });
    expect(printed.filter((line) => line.startsWith("NOT verified"))).toEqual([]);
    const types = bodies.map((body) => (JSON.parse(body) as { type: string; data: { run: { id: string } } }).type);
    expect(types).toEqual(["run.queued", "run.running", "run.succeeded"]);
    for (const body of bodies) expect((JSON.parse(body) as { data: { run: { id: string } } }).data.run.id).toBe(runId);
  });
});
