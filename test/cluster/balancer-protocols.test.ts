/**
 * Three replicas on one Postgres behind a real HAProxy (test/support/haproxy-cluster.ts):
 * every protocol reaches Runline through the balancer on one port, HTTP/1.1 and h2c
 * alike, unary calls and server streams, and calls spread over every replica. Skipped,
 * with the reason in the names, where haproxy is missing, except under CI=true.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { balancerSkipReason, balancerSuiteName, startSuiteCluster } from "../support/balancer-suite.js";
import { clientFor, h2ConnectTransport, json, type TenantFixture } from "../support/clients.js";
import { codeOf, within } from "../support/expectations.js";
import { findHaproxy, type HaproxyCluster } from "../support/haproxy-cluster.js";
import { haproxyConfig } from "../support/haproxy-config.js";

let cluster: HaproxyCluster | undefined;
let tenant: TenantFixture;
// Registered at the top level: an afterAll registered inside a beforeAll never ran.
afterAll(() => cluster?.stop());

const skipped = balancerSkipReason() !== undefined;

/** The RPC clients through the balancer: gRPC and Connect over h2c, gRPC-web and Connect JSON over HTTP/1.1. */
const rpcClients: Record<string, () => Client<typeof RunsService>> = {
  "gRPC (h2c)": () => clientFor(RunsService, "grpc", cluster!.url, tenant.key),
  "gRPC-web (HTTP/1.1)": () => clientFor(RunsService, "grpc-web", cluster!.url, tenant.key),
  "Connect JSON (HTTP/1.1)": () => clientFor(RunsService, "connect-json", cluster!.url, tenant.key),
  "Connect binary (h2c)": () => createClient(RunsService, h2ConnectTransport(cluster!.url, tenant.key)),
};

async function createRun(): Promise<string> {
  const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
  return run!.id;
}

describe.skipIf(skipped)(balancerSuiteName("Runline behind HAProxy"), () => {
  beforeAll(async () => {
    ({ cluster, tenant } = await startSuiteCluster());
  });

  it("runs the README's worked example, which `haproxy -c` accepts", async () => {
    const example = /<!-- haproxy-example -->\n```haproxy\n([\s\S]*?)^```$/m.exec(await readFile("README.md", "utf8"))?.[1];
    expect(example, "README.md has the example, marked <!-- haproxy-example -->").toBeDefined();
    const replicas = [1, 2, 3].map((index) => ({ name: `r${index}`, host: `10.0.0.${10 + index}`, port: 8080 }));
    expect(example).toBe(haproxyConfig({ frontendHost: "0.0.0.0", frontendPort: 80, replicas }));
    const folder = await mkdtemp(path.join(os.tmpdir(), "haproxy-example-"));
    onTestFinished(() => rm(folder, { recursive: true, force: true }));
    await writeFile(path.join(folder, "haproxy.cfg"), example!);
    const checked = execFileSync(findHaproxy()!, ["-c", "-f", path.join(folder, "haproxy.cfg")], { encoding: "utf8" });
    expect(checked).toContain("Configuration file is valid");
    // The harness runs the same text, with its own ports and its runtime API socket.
    expect(cluster!.config).toContain(example!.slice(example!.indexOf("defaults"), example!.indexOf("frontend")));
  });

  it.each(Object.keys(rpcClients))("serves %s: a unary call and a server stream to its end", async (name) => {
    const runs = rpcClients[name]!();
    const runId = await createRun();
    const replicas = new Set<string | null>();
    const fetched = await runs.getRun({ runId }, { onHeader: (headers) => replicas.add(headers.get("x-runline-replica")) });
    expect(fetched.run?.id).toBe(runId);
    await runs.ingestRunEvents({ runId, events: [{ type: "log", data: json("through the balancer") }] });
    await runs.cancelRun({ runId, reason: "test" });
    const sequences: number[] = [];
    const stream = runs.streamRunEvents({ runId }, { onHeader: (headers) => replicas.add(headers.get("x-runline-replica")) });
    await within(
      10_000,
      "the stream to end",
      (async () => {
        for await (const message of stream) sequences.push(...message.events.map((event) => Number(event.sequence)));
      })(),
    );
    expect(sequences).toEqual([1, 2, 3]);
    expect([...replicas].every((replica) => /^r[123]$/.test(replica ?? ""))).toBe(true);
    expect(await codeOf(runs.getRun({ runId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" }))).toBe(Code.NotFound);
  });

  it("serves REST over HTTP/1.1: a unary call and an SSE stream, frames unbuffered", async () => {
    const runId = await createRun();
    const headers = { authorization: `Bearer ${tenant.key}` };
    const got = await fetch(`${cluster!.url}/api/v1/runs/${runId}`, { headers });
    expect(got.status).toBe(200);
    expect(((await got.json()) as { run: { id: string } }).run.id).toBe(runId);
    expect(got.headers.get("x-runline-replica")).toMatch(/^r[123]$/);

    const response = await fetch(`${cluster!.url}/api/v1/runs/${runId}/events:stream`, { headers });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const frames: { id: string | undefined; event: string | undefined }[] = [];
    const parser = createParser({ onEvent: ({ id, event }) => frames.push({ id, event }) });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const readUntil = (what: string, done: () => boolean) =>
      within(
        10_000,
        what,
        (async () => {
          while (!done()) {
            const chunk = await reader.read();
            if (chunk.done) throw new Error(`${what}: the stream ended`);
            parser.feed(chunk.value);
          }
        })(),
      );
    // The first frame arrives while the stream is still open: HAProxy buffers nothing.
    await readUntil("the first frame", () => frames.length >= 1);
    await tenant.runs().ingestRunEvents({ runId, events: [{ type: "log", data: json("live") }] });
    await readUntil("the live event", () => frames.some((frame) => frame.id === "2"));
    await tenant.runs().cancelRun({ runId, reason: "test" });
    await readUntil("the end of the stream", () => frames.some((frame) => frame.event === "complete"));
    // The run's state first (no events, so no id), then one frame per event here, then the end.
    expect(frames.map((frame) => frame.id ?? frame.event ?? "state")).toEqual(["state", "1", "2", "3", "complete"]);
  });

  it("spreads calls over every replica, each UP in HAProxy's eyes and with nothing to warn of", async () => {
    const runs = tenant.runs();
    const served = new Set<string | null>();
    for (let call = 0; call < 12; call++) {
      await runs.listRuns({ pageSize: 1 }, { onHeader: (headers) => served.add(headers.get("x-runline-replica")) });
    }
    expect([...served].sort()).toEqual(["r1", "r2", "r3"]);
    expect(Object.fromEntries(await cluster!.serverStates())).toEqual({ r1: "UP", r2: "UP", r3: "UP" });
    // Behind the balancer, nothing any test here did was worth a warning in any replica's log.
    expect(cluster!.replicas.flatMap((replica) => replica.problems())).toEqual([]);
  });
});
