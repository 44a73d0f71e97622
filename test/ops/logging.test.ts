/**
 * Logs: one structured line per call with request id, procedure, protocol, tenant, code
 * and duration; never a secret.
 */
import { describe, expect, it } from "vitest";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { clientFor, createCounterWorkflow, createTenant, json } from "../support/clients.js";
import { startLoggedServer } from "../support/logged-server.js";
import { testRootKey } from "../support/test-server.js";

describe("call logs", () => {
  it("log every call of a full run lifecycle without ever printing a key", async () => {
    const { server, lines } = await startLoggedServer();
    try {
      const tenant = await createTenant(server.url);
      const extra = await clientFor(AdminService, "grpc", server.url, testRootKey).createApiKey({
        tenant: tenant.slug,
        scopes: [Scope.READ],
      });
      expect(extra.secret).toMatch(/^rl_/);
      await createCounterWorkflow(tenant);
      const runs = tenant.runs("grpc-web");
      let echoed: string | null = null;
      const { run } = await runs.createRun(
        { workflow: "counter", input: json({ n: 1 }) },
        { headers: { "x-request-id": "req-lifecycle-1" }, onHeader: (headers) => (echoed = headers.get("x-request-id")) },
      );
      expect(echoed).toBe("req-lifecycle-1");
      await runs.ingestRunEvents({ runId: run!.id, events: [{ type: "progress", data: json({ fraction: 0.5 }) }] });
      await runs.cancelRun({ runId: run!.id });
      for await (const _message of runs.streamRunEvents({ runId: run!.id }));
      await clientFor(AdminService, "grpc", server.url, "rl_wrong-key")
        .createTenant({ slug: "nope" })
        .catch(() => undefined);
    } finally {
      await server.close();
    }
    const text = lines.join("\n");
    expect(text).not.toContain(testRootKey);
    expect(text).not.toMatch(/rl_[A-Za-z0-9_-]{20,}/);
    const calls = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === "call");
    const create = calls.find((entry) => entry.requestId === "req-lifecycle-1");
    expect(create).toMatchObject({ procedure: "/runline.v1.RunsService/CreateRun", protocol: "grpc-web", code: "ok" });
    expect(typeof create!.tenant).toBe("string");
    expect(typeof create!.durationMs).toBe("number");
    expect(calls.some((entry) => entry.procedure === "/runline.v1.RunsService/StreamRunEvents" && entry.code === "ok")).toBe(true);
    expect(calls.some((entry) => entry.procedure === "/runline.v1.AdminService/CreateTenant" && entry.code === "unauthenticated")).toBe(
      true,
    );
    expect(calls.every((entry) => typeof entry.requestId === "string")).toBe(true);
  });
});
