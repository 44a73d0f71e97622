/**
 * One nesting limit for JSON values in requests (maxJsonValueDepth, 32), on every
 * protocol, so that whatever is stored can be read back on every protocol. Before it, a
 * run whose input nested 50 to 100 deep was accepted over Connect JSON and stored, and
 * then every REST read of the tenant's runs failed with 500 (the binary hop of REST's
 * in-process call refused it), and an input nested 49 deep, accepted over REST, could not
 * be decoded by the executor SDK, so the run timed out without running.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { maxJsonValueDepth } from "../../src/proto-ranges.js";
import { clientFor, createCounterWorkflow, createTenant, h2ConnectTransport, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
  await tenant.workflows().createWorkflow({ slug: "free", definition: json({}) });
});

/** `[[…[]…]]`, `depth` lists deep. */
const nestedText = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const nested = (depth: number): unknown[] => JSON.parse(nestedText(depth)) as unknown[];
/** The JSON path of the first list too deep in nestedText(depth) under `field`. */
const tooDeepPath = (field: string) => `${field}${"[0]".repeat(maxJsonValueDepth)}`;
const tooDeep = `nests JSON values more than ${maxJsonValueDepth} deep`;

async function rest(method: string, path: string, body?: string) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${tenant.key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function violationsOf(error: unknown): Array<{ field: string; description: string }> {
  expect(error).toBeInstanceOf(ConnectError);
  const connectError = error as ConnectError;
  expect(connectError.code).toBe(Code.InvalidArgument);
  return connectError
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations.map(({ field, description }) => ({ field, description })));
}

describe("JSON values nested deeper than the limit", () => {
  it("are refused over REST with the field named, from just past the limit to where JSON decoding stops", async () => {
    for (const depth of [maxJsonValueDepth + 1, 49, 70, 99, 100]) {
      const answer = await rest("POST", "/api/v1/runs", `{"workflow": "counter", "input": ${nestedText(depth)}}`);
      expect(answer.status, `depth ${depth}`).toBe(400);
      const details = answer.body.details as Array<{ fieldViolations?: Array<{ field: string; description: string }> }>;
      expect(
        details.flatMap((detail) => detail.fieldViolations ?? []),
        `depth ${depth}`,
      ).toEqual([{ field: tooDeepPath("input"), description: tooDeep }]);
    }
  });

  it("are refused over Connect JSON, Connect binary, gRPC and gRPC-web with the field named", async () => {
    const binary = createClient(RunsService, h2ConnectTransport(baseUrl, tenant.key));
    const clients = [
      binary,
      ...(["connect-json", "grpc", "grpc-web"] as const).map((protocol) => clientFor(RunsService, protocol, baseUrl, tenant.key)),
    ];
    for (const client of clients) {
      for (const depth of [maxJsonValueDepth + 1, 70]) {
        const error = await client
          .createRun({ workflow: "counter", input: json(nested(depth) as never) })
          .catch((caught: unknown) => caught);
        expect(violationsOf(error), `depth ${depth}`).toEqual([{ field: tooDeepPath("input"), description: tooDeep }]);
      }
    }
  });

  it("are refused in event data and workflow schemas alike", async () => {
    const runs = clientFor(RunsService, "connect-json", baseUrl, tenant.key);
    const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
    const eventError = await runs
      .ingestRunEvents({ runId: run!.id, events: [{ type: "deep", data: json(nested(40) as never) }] })
      .catch((caught: unknown) => caught);
    expect(violationsOf(eventError)).toEqual([{ field: tooDeepPath("events[0].data"), description: tooDeep }]);

    const workflows = clientFor(WorkflowsService, "connect-json", baseUrl, tenant.key);
    let schema: Record<string, unknown> = {};
    for (let level = 0; level < 40; level++) schema = { items: schema };
    const schemaError = await workflows
      .createWorkflow({ slug: "deep-schema", definition: json({}), inputSchema: json(schema as never) })
      .catch((caught: unknown) => caught);
    // A long path is shortened in the answer (errors.ts echoed): its start names it.
    const [violation] = violationsOf(schemaError);
    expect(violation?.description).toBe(tooDeep);
    expect(violation?.field).toMatch(/^inputSchema(\.items){15,}/);
  });
});

describe("a value nested exactly to the limit", () => {
  it("is stored, and read back whole over REST (get, list) and binary Connect", async () => {
    const input = nested(maxJsonValueDepth);
    const created = await rest("POST", "/api/v1/runs", JSON.stringify({ workflow: "free", input }));
    expect(created.status).toBe(200);
    const id = (created.body.run as { id: string }).id;

    const got = await rest("GET", `/api/v1/runs/${id}`);
    expect(got.status).toBe(200);
    expect((got.body.run as { input: unknown }).input).toEqual(input);
    const listed = await rest("GET", "/api/v1/runs?pageSize=5");
    expect(listed.status).toBe(200);
    expect((listed.body.runs as Array<{ id: string; input: unknown }>).find((run) => run.id === id)?.input).toEqual(input);

    const binary = createClient(RunsService, h2ConnectTransport(baseUrl, tenant.key));
    const { run } = await binary.getRun({ runId: id });
    expect(toJson(ValueSchema, run!.input!)).toEqual(input);
  });
});
