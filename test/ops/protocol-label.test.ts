/**
 * Logs and metrics name the protocol each call came over: a REST call is `rest`, though
 * it reaches the handlers as an in-process Connect call, and a Connect or gRPC call of
 * the same procedure keeps its own label. A Connect client cannot pass itself off as
 * REST.
 */
import { describe, expect, it } from "vitest";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { clientFor, createTenant } from "../support/clients.js";
import { startLoggedServer } from "../support/logged-server.js";
import { restClient } from "../rest/rest-client.js";

const procedure = "/runline.v1.WorkflowsService/ListWorkflows";

/** The value of `runline_rpc_requests_total` for ListWorkflows, ok, over `protocol` (0 when absent). */
function callsOver(metrics: string, protocol: string): number {
  const line = metrics
    .split("\n")
    .find((candidate) => candidate.startsWith(`runline_rpc_requests_total{procedure="${procedure}",protocol="${protocol}",code="ok"}`));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

describe("the protocol label", () => {
  it("is rest for a REST call, in its log line and in /metrics, and connect or grpc for the others", async () => {
    const { server, lines } = await startLoggedServer();
    let metrics: string;
    try {
      const tenant = await createTenant(server.url);
      const listed = await restClient(server.url, tenant.key).get("/api/v1/workflows", { "x-request-id": "label-rest" });
      expect(listed.status, listed.text).toBe(200);
      // A header claiming REST changes nothing: only the REST path can mark its calls.
      await tenant
        .workflows("connect-json")
        .listWorkflows({}, { headers: { "x-request-id": "label-connect", "x-runline-protocol": "rest" } });
      await clientFor(WorkflowsService, "grpc", server.url, tenant.key).listWorkflows({}, { headers: { "x-request-id": "label-grpc" } });
      metrics = await (await fetch(`${server.url}/metrics`)).text();
    } finally {
      await server.close();
    }
    const calls = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === "call");
    const protocolOf = (requestId: string) =>
      calls.filter((entry) => entry.requestId === requestId).map((entry) => ({ procedure: entry.procedure, protocol: entry.protocol }));
    expect(protocolOf("label-rest")).toEqual([{ procedure, protocol: "rest" }]);
    expect(protocolOf("label-connect")).toEqual([{ procedure, protocol: "connect" }]);
    expect(protocolOf("label-grpc")).toEqual([{ procedure, protocol: "grpc" }]);
    expect({ rest: callsOver(metrics, "rest"), connect: callsOver(metrics, "connect"), grpc: callsOver(metrics, "grpc") }).toEqual({
      rest: 1,
      connect: 1,
      grpc: 1,
    });
    expect(metrics).toMatch(
      new RegExp(`^runline_rpc_duration_seconds_count\\{procedure="${procedure}",protocol="rest",code="ok"\\} 1$`, "m"),
    );
  });
});
