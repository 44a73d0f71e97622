/**
 * Validation at the boundary: values no field may hold (Timestamps and Durations outside
 * protobuf's ranges, NUL in any text) are INVALID_ARGUMENT on every protocol, naming the
 * field by its JSON path, before any handler or SQL sees them; fields' own bounds
 * (run timeout, scheduleTime) likewise; echoed values are bounded in messages.
 */
import { create } from "@bufbuild/protobuf";
import { createClient, type Client, type ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { RunsService, CreateRunRequestSchema } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { Code } from "@connectrpc/connect";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { rejection } from "../support/expectations.js";
import { startTestServer } from "../support/test-server.js";

const binaryProtocols = ["grpc", "grpc-web", "connect-binary"] as const;
const allProtocols = [...binaryProtocols, "connect-json"] as const;
type RpcProtocol = (typeof allProtocols)[number];

let baseUrl: string;
let tenant: TenantFixture;

function client<S extends typeof RunsService | typeof WorkflowsService>(service: S, protocol: RpcProtocol): Client<S> {
  const interceptors = [
    (next: Parameters<import("@connectrpc/connect").Interceptor>[0]) => (request: Parameters<typeof next>[0]) => (
      request.header.set("authorization", `Bearer ${tenant.key}`),
      next(request)
    ),
  ];
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl, interceptors })
      : protocol === "grpc-web"
        ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors })
        : createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: protocol === "connect-binary", interceptors });
  return createClient(service, transport);
}

function violations(error: ConnectError): string[] {
  return error.findDetails(BadRequestSchema).flatMap((detail) => detail.fieldViolations.map((violation) => violation.field));
}

async function rest(
  method: string,
  path: string,
  body?: unknown,
): Promise<{
  status: number;
  json: { code: number; message: string; details?: { "@type": string; fieldViolations?: { field: string }[] }[] };
}> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as never };
}

function restViolations(json: Awaited<ReturnType<typeof rest>>["json"]): string[] {
  return (json.details ?? []).flatMap((detail) => (detail.fieldViolations ?? []).map((violation) => violation.field));
}

const year10000 = { seconds: 253_402_300_800n, nanos: 0 };
const hugeDuration = { seconds: 1_000_000_000_000_000n, nanos: 0 };

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
});

describe.each(binaryProtocols)("values out of protobuf's ranges over %s", (protocol) => {
  it("CreateRun with a timeout of 10^15 s names `timeout` and stores nothing", async () => {
    const runs = client(RunsService, protocol);
    const before = await runs.listRuns({ workflow: "counter" });
    const error = await rejection(runs.createRun({ workflow: "counter", input: json({ n: 1 }), timeout: hugeDuration }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(violations(error)).toEqual(["timeout"]);
    expect((await runs.listRuns({ workflow: "counter" })).runs.length).toBe(before.runs.length);
  });

  it("CreateRun with a scheduleTime in year 10000 names `scheduleTime`", async () => {
    const error = await rejection(
      client(RunsService, protocol).createRun({ workflow: "counter", input: json({ n: 1 }), scheduleTime: year10000 }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(violations(error)).toEqual(["scheduleTime"]);
  });

  it("a Timestamp with nanos outside [0, 1e9) and a Duration whose nanos disagree with its seconds are refused", async () => {
    const runs = client(RunsService, protocol);
    const badNanos = await rejection(runs.listRuns({ createTimeAfter: { seconds: 0n, nanos: 1_000_000_000 } }));
    expect(violations(badNanos)).toEqual(["createTimeAfter"]);
    const mixedSigns = await rejection(runs.createRun({ workflow: "counter", input: json({ n: 1 }), timeout: { seconds: 5n, nanos: -1 } }));
    expect(violations(mixedSigns)).toEqual(["timeout"]);
  });

  it("nested fields are named by their JSON path: requests[2].timeout, run.scheduleTime", async () => {
    const runs = client(RunsService, protocol);
    const ok = create(CreateRunRequestSchema, { workflow: "counter", input: json({ n: 1 }) });
    const tooLong = create(CreateRunRequestSchema, { workflow: "counter", input: json({ n: 1 }), timeout: hugeDuration });
    const batch = await rejection(runs.batchCreateRuns({ requests: [ok, ok, tooLong] }));
    expect(batch.code).toBe(Code.InvalidArgument);
    expect(violations(batch)).toEqual(["requests[2].timeout"]);
    const wait = await rejection(runs.runAndWait({ run: { workflow: "counter", input: json({ n: 1 }), scheduleTime: year10000 } }));
    expect(violations(wait)).toEqual(["run.scheduleTime"]);
  });

  it("ListRuns with a time filter of ±10^15 s is INVALID_ARGUMENT, not a 500", async () => {
    const runs = client(RunsService, protocol);
    for (const seconds of [1_000_000_000_000_000n, -1_000_000_000_000_000n]) {
      const error = await rejection(runs.listRuns({ updateTimeBefore: { seconds, nanos: 0 } }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(violations(error)).toEqual(["updateTimeBefore"]);
    }
  });
});

describe.each(allProtocols)("text Postgres refuses, over %s", (protocol) => {
  it("a NUL in a workflow slug is INVALID_ARGUMENT naming `slug` (not a retryable 503)", async () => {
    const error = await rejection(client(WorkflowsService, protocol).createWorkflow({ slug: "bad\u0000slug", definition: json({}) }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(violations(error)).toEqual(["slug"]);
  });

  it("a NUL deep inside a JSON input is named by its JSON path", async () => {
    const error = await rejection(
      client(RunsService, protocol).createRun({ workflow: "counter", input: json({ n: 1, tags: ["ok", "no\u0000"] }) }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(violations(error)).toEqual(["input.tags[1]"]);
  });

  it("a NUL in a map key or value is named with the key", async () => {
    const error = await rejection(
      client(RunsService, protocol).createRun({ workflow: "counter", input: json({ n: 1 }), labels: { team: "a\u0000b" } }),
    );
    expect(violations(error)).toEqual(["labels[team]"]);
  });
});

describe("REST goes through the same checks", () => {
  it("NUL in a slug, a run input, and a tenant slug: 400 naming the field", async () => {
    const slug = await rest("POST", "/api/v1/workflows", { slug: "x\u0000", definition: {} });
    expect(slug.status).toBe(400);
    expect(restViolations(slug.json)).toEqual(["slug"]);
    const input = await rest("POST", "/api/v1/runs", { workflow: "counter", input: { n: 1, note: "\u0000" } });
    expect(input.status).toBe(400);
    expect(restViolations(input.json)).toEqual(["input.note"]);
  });

  // A hostile probe: JSON's "\ud800" (half a surrogate pair) was stored as U+FFFD, silently.
  it("an unpaired surrogate in a JSON input is 400 naming its path, over REST and Connect JSON", async () => {
    const input = await rest("POST", "/api/v1/runs", { workflow: "counter", input: { n: 1, note: "a\ud800" } });
    expect(input.status).toBe(400);
    expect(restViolations(input.json)).toEqual(["input.note"]);
    const error = await rejection(
      client(RunsService, "connect-json").createRun({ workflow: "counter", input: json({ n: 1, tags: ["\udc00"] }) }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(violations(error)).toEqual(["input.tags[0]"]);
    // A whole pair is text like any other.
    expect((await rest("POST", "/api/v1/runs", { workflow: "counter", input: { n: 1, note: "\ud83d\ude00" } })).status).toBe(200);
  });

  it("a Duration beyond ±10,000 years in JSON is 400", async () => {
    const response = await rest("POST", "/api/v1/runs", { workflow: "counter", input: { n: 1 }, timeout: "1000000000000000s" });
    expect(response.status).toBe(400);
  });

  it('{"definition": null} on CreateWorkflowVersion is 400 naming `definition`', async () => {
    const response = await rest("POST", "/api/v1/workflows/counter/versions", { definition: null });
    expect(response.status).toBe(400);
    expect(restViolations(response.json)).toEqual(["definition"]);
  });
});

describe("each field's own bounds", () => {
  it("a run timeout above 366 days and a scheduleTime more than 366 days ahead are refused", async () => {
    const runs = client(RunsService, "grpc");
    const timeout = await rejection(
      runs.createRun({ workflow: "counter", input: json({ n: 1 }), timeout: { seconds: 367n * 86_400n, nanos: 0 } }),
    );
    expect(violations(timeout)).toEqual(["timeout"]);
    const farAhead = BigInt(Math.floor(Date.now() / 1000) + 367 * 86_400);
    const schedule = await rejection(
      runs.createRun({ workflow: "counter", input: json({ n: 1 }), scheduleTime: { seconds: farAhead, nanos: 0 } }),
    );
    expect(violations(schedule)).toEqual(["scheduleTime"]);
    const { run } = await runs.createRun({
      workflow: "counter",
      input: json({ n: 1 }),
      timeout: { seconds: 365n * 86_400n, nanos: 0 },
      scheduleTime: { seconds: farAhead - 2n * 86_400n, nanos: 0 },
    });
    expect(run?.timeout?.seconds).toBe(365n * 86_400n);
  });
});

describe("echoed values are bounded", () => {
  it.each(allProtocols)("a 1 MB run_id over %s is NOT_FOUND with a short message", async (protocol) => {
    const error = await rejection(client(RunsService, protocol).getRun({ runId: "r".repeat(1024 * 1024) }));
    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage.length).toBeLessThan(200);
  });

  // Found by the hostile-input suite: every element was a violation, all of them went into
  // grpc-status-details-bin (6.8 MB), and the client reset the stream (FRAME_SIZE_ERROR).
  it.each(allProtocols)("10,000 map entries with NUL over %s are INVALID_ARGUMENT with at most 10 violations", async (protocol) => {
    const labels = Object.fromEntries(Array.from({ length: 10_000 }, (_, index) => [`k${index}`, "\0"]));
    const error = await rejection(client(RunsService, protocol).createRun({ workflow: "counter", labels }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(violations(error).length).toBeGreaterThan(0);
    expect(violations(error).length).toBeLessThanOrEqual(10);
    expect(violations(error)[0]).toMatch(/^labels\[k\d+\]$/);
  });
});

describe("unknown enum names are refused on every JSON protocol alike", () => {
  it("Connect JSON: ListRuns with status RUN_STATUS_NOPE is INVALID_ARGUMENT", async () => {
    const response = await fetch(`${baseUrl}/runline.v1.RunsService/ListRuns`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
      body: JSON.stringify({ status: ["RUN_STATUS_NOPE"] }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe("invalid_argument");
  });

  it("Connect JSON: an unknown field is refused as REST refuses it", async () => {
    const response = await fetch(`${baseUrl}/runline.v1.RunsService/ListRuns`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
      body: JSON.stringify({ pageSize: 5, noSuchField: 1 }),
    });
    expect(response.status).toBe(400);
    const restAnswer = await rest("POST", "/api/v1/runs:search", { noSuchField: 1 });
    expect(restAnswer.status).toBe(400);
  });

  it("REST: ?status=RUN_STATUS_NOPE is 400", async () => {
    expect((await rest("GET", "/api/v1/runs?status=RUN_STATUS_NOPE")).status).toBe(400);
  });
});
