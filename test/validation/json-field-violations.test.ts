/**
 * A JSON request that does not decode says which field is wrong and how, in the shape the
 * README promises: 400 INVALID_ARGUMENT with a google.rpc.BadRequest whose violation
 * names the field by its JSON path. The same body gets the same violation over REST and
 * over Connect JSON (POST, and GET for read-only RPCs); malformed JSON names the parser's
 * position. Field violations raised after decoding use JSON names on every protocol.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { errorFromJson } from "@connectrpc/connect/protocol-connect";
import type { JsonValue } from "@bufbuild/protobuf";
import { beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { createCounterWorkflow, createTenant, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
});

interface Violation {
  readonly field: string;
  readonly description: string;
}

/** The REST answer to `body` on `path`: its status, Status message and BadRequest violations. */
async function overRest(path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", ...headers },
    body,
  });
  const status = (await response.json()) as { code: number; message: string; details: Array<Record<string, unknown>> };
  const badRequest = status.details.find((detail) => detail["@type"] === "type.googleapis.com/google.rpc.BadRequest");
  const violations = ((badRequest?.fieldViolations ?? []) as Array<Partial<Violation>>).map((violation) => ({
    // proto3 JSON leaves an empty `field` (the body as a whole) out.
    field: violation.field ?? "",
    description: violation.description ?? "",
  }));
  return { httpStatus: response.status, code: status.code, message: status.message, violations, details: status.details };
}

/** The Connect error for a raw JSON request, read by connect-es as its clients read one. */
async function overConnect(method: string, body: string, get = false): Promise<ConnectError> {
  const url = get
    ? `${baseUrl}/runline.v1.RunsService/${method}?connect=v1&encoding=json&message=${encodeURIComponent(body)}`
    : `${baseUrl}/runline.v1.RunsService/${method}`;
  const response = await fetch(url, {
    method: get ? "GET" : "POST",
    headers: {
      authorization: `Bearer ${tenant.key}`,
      ...(get ? {} : { "content-type": "application/json", "connect-protocol-version": "1" }),
    },
    ...(get ? {} : { body }),
  });
  expect(response.status).toBe(400);
  return errorFromJson((await response.json()) as JsonValue, response.headers, new ConnectError("no error body", Code.Unknown));
}

function violationsOf(error: ConnectError): Violation[] {
  return error
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations.map(({ field, description }) => ({ field, description })));
}

const faults: Array<[name: string, rest: string, rpc: string, body: string, violation: Violation]> = [
  [
    "a wrong field type",
    "/api/v1/runs:search",
    "SearchRuns",
    '{"pageSize": "ten"}',
    { field: "pageSize", description: 'expected a 32-bit integer, got "ten"' },
  ],
  [
    "an unknown body field",
    "/api/v1/runs",
    "CreateRun",
    '{"workflow": "counter", "input": {"n": 1}, "colour": "blue"}',
    { field: "colour", description: 'unknown field: runline.v1.CreateRunRequest has no field "colour"' },
  ],
  [
    "a wrong type deep inside",
    "/api/v1/runs:batchCreate",
    "BatchCreateRuns",
    '{"template": {"workflow": "counter", "webhook": {"url": 5}}, "inputs": [{"n": 1}]}',
    { field: "template.webhook.url", description: "expected a string, got 5" },
  ],
  [
    "an enum name that does not exist, in a list",
    "/api/v1/runs:search",
    "SearchRuns",
    '{"filter": {"status": ["RUN_STATUS_QUEUED", "RUNNING"]}}',
    {
      field: "filter.status[1]",
      description: expect.stringMatching(/^expected one of RUN_STATUS_UNSPECIFIED, .*, got "RUNNING"$/) as never,
    },
  ],
  [
    // JSON.stringify of it overflows the stack; in connect-es's abort listener that once ended the process.
    "a JSON value nested ten thousand deep",
    "/api/v1/runs",
    "CreateRun",
    `{"workflow": "counter", "input": ${"[".repeat(10_000)}${"]".repeat(10_000)}}`,
    { field: "input", description: "nests JSON values more than 100 deep" },
  ],
  [
    "malformed JSON",
    "/api/v1/runs",
    "CreateRun",
    '{"workflow": "counter",\n "input": {"n": 1},}',
    { field: "", description: "Expected double-quoted property name in JSON at position 43 (line 2 column 20)" },
  ],
];

describe.each(faults)("%s", (_name, restPath, rpc, body, violation) => {
  it("REST: 400 INVALID_ARGUMENT with the violation, its message naming the field", async () => {
    const answer = await overRest(restPath, body);
    expect(answer).toMatchObject({ httpStatus: 400, code: Code.InvalidArgument, violations: [violation] });
    const [only] = answer.violations;
    expect(answer.message).toBe(only!.field === "" ? `invalid JSON body: ${only!.description}` : `${only!.field}: ${only!.description}`);
  });

  it("Connect JSON: the same violation and message", async () => {
    const rest = await overRest(restPath, body);
    const error = await overConnect(rpc, body);
    expect(error.code).toBe(Code.InvalidArgument);
    expect(violationsOf(error)).toEqual([violation]);
    expect(error.rawMessage).toBe(rest.message);
  });
});

describe("Connect GET, REST query and headers", () => {
  it("a Connect GET's JSON message gets the violation too", async () => {
    const error = await overConnect("ListRuns", '{"pageSize": "ten", "workflow": "counter"}', true);
    expect(violationsOf(error)).toEqual([{ field: "pageSize", description: 'expected a 32-bit integer, got "ten"' }]);
  });

  it("a REST query parameter in proto form is named by its JSON name", async () => {
    const response = await fetch(`${baseUrl}/api/v1/runs?page_size=ten`, { headers: { authorization: `Bearer ${tenant.key}` } });
    const status = (await response.json()) as { details: Array<{ fieldViolations?: Violation[] }> };
    expect(response.status).toBe(400);
    expect(status.details[0]!.fieldViolations![0]!.field).toBe("pageSize");
  });

  it("an Idempotency-Key header that contradicts the body's idempotencyKey names the field", async () => {
    const answer = await overRest("/api/v1/runs", JSON.stringify({ workflow: "counter", input: { n: 1 }, idempotencyKey: "order-2" }), {
      "idempotency-key": "order-1",
    });
    expect(answer).toMatchObject({
      httpStatus: 400,
      code: Code.InvalidArgument,
      violations: [
        { field: "idempotencyKey", description: '"order-2" differs from the Idempotency-Key header "order-1"; send one, or both equal' },
      ],
    });
    expect(answer.details).toContainEqual({
      "@type": "type.googleapis.com/google.rpc.ErrorInfo",
      reason: "INVALID_ARGUMENT",
      domain: "runline.dev",
    });
    // Equal values are no contradiction.
    const agreeing = await fetch(`${baseUrl}/api/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", "idempotency-key": "order-3" },
      body: JSON.stringify({ workflow: "counter", input: { n: 1 }, idempotencyKey: "order-3" }),
    });
    expect(agreeing.status).toBe(200);
  });

  it("a Connect request that decodes but fails before the handler keeps its own answer", async () => {
    // A deadline header connect-es refuses: INVALID_ARGUMENT, and no BadRequest made up for the body.
    const response = await fetch(`${baseUrl}/runline.v1.RunsService/SearchRuns`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", "connect-timeout-ms": "soon" },
      body: '{"pageSize": 1}',
    });
    const error = errorFromJson((await response.json()) as JsonValue, response.headers, new ConnectError("none", Code.Unknown));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(violationsOf(error)).toEqual([]);
  });
});

describe("violations raised after decoding use JSON names on every protocol", () => {
  it.each(protocols)("%s: a negative pageSize is `pageSize`, an unknown status in the filter `filter.status[0]`", async (protocol) => {
    const runs = tenant.runs(protocol);
    const negative = await runs.listRuns({ pageSize: -1 }).then(
      () => undefined,
      (error: unknown) => ConnectError.from(error),
    );
    expect(negative?.code).toBe(Code.InvalidArgument);
    expect(violationsOf(negative!)).toEqual([{ field: "pageSize", description: "must not be negative" }]);
    expect(negative!.findDetails(ErrorInfoSchema)[0]?.reason).toBe("INVALID_ARGUMENT");
    const nested = await runs.searchRuns({ filter: { status: [99 as RunStatus] } }).then(
      () => undefined,
      (error: unknown) => ConnectError.from(error),
    );
    expect(violationsOf(nested!).map((violation) => violation.field)).toEqual(["filter.status[0]"]);
  });
});
