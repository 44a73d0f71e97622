/**
 * The committed Runline document (gen/openapi/runline.openapi.json, written by
 * `buf generate`): valid OpenAPI 3.1, one operation per HTTP binding of every runline.v1
 * RPC, path parameters for every template variable, the proto comments as descriptions
 * (field names in their JSON form), each operation's error statuses, what the REST hooks
 * add (headers, 204, 304), bearer authentication, and a document openapi-typescript
 * turns into client types.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getOption, hasOption, type DescService } from "@bufbuild/protobuf";
import { compileErrors, validate } from "@readme/openapi-parser";
import openapiTS, { astToString } from "openapi-typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { http } from "../../gen/google/api/annotations_pb.js";
import { file_runline_v1_admin_service } from "../../gen/runline/v1/admin_service_pb.js";
import { file_runline_v1_auth_service } from "../../gen/runline/v1/auth_service_pb.js";
import { file_runline_v1_run } from "../../gen/runline/v1/run_pb.js";
import { file_runline_v1_runs_service } from "../../gen/runline/v1/runs_service_pb.js";
import { file_runline_v1_webhooks_service } from "../../gen/runline/v1/webhooks_service_pb.js";
import { file_runline_v1_worker_service } from "../../gen/runline/v1/worker_service_pb.js";
import { file_runline_v1_workflows_service } from "../../gen/runline/v1/workflows_service_pb.js";
import type { OpenApiDocument, OperationObject } from "../../src/openapi/openapi-types.js";

const documentFile = new URL("../../gen/openapi/runline.openapi.json", import.meta.url);
const typesFile = new URL("../../gen/openapi/runline.openapi.ts", import.meta.url);
/** Every service of every file in proto/runline/v1. */
const services: readonly DescService[] = [
  file_runline_v1_admin_service,
  file_runline_v1_auth_service,
  file_runline_v1_run,
  file_runline_v1_runs_service,
  file_runline_v1_webhooks_service,
  file_runline_v1_worker_service,
  file_runline_v1_workflows_service,
].flatMap((file) => file.services);

let document: OpenApiDocument;

beforeAll(async () => {
  document = JSON.parse(await readFile(documentFile, "utf8")) as OpenApiDocument;
});

function operations(): OperationObject[] {
  return Object.values(document.paths).flatMap((item) => Object.values(item));
}

function operationById(operationId: string): OperationObject {
  const found = operations().find((candidate) => candidate.operationId === operationId);
  if (found === undefined) throw new Error(`no operation ${operationId}`);
  return found;
}

describe("the generated Runline OpenAPI document", () => {
  it("validates as OpenAPI 3.1 with @readme/openapi-parser", async () => {
    const result = await validate(fileURLToPath(documentFile));
    expect(result.valid, result.valid ? "" : compileErrors(result)).toBe(true);
    expect(result.specification).toBe("OpenAPI");
    expect(document.openapi).toBe("3.1.0");
    expect(document.info).toEqual({ title: "Runline API", version: "v1", license: { name: "Proprietary" } });
    // Relative: the API is where the document was fetched from.
    expect(document.servers).toEqual([{ url: "/" }]);
  });

  it("has one operation per HTTP binding of every runline.v1 RPC (client and two-way streams have no REST form)", () => {
    const expected = services.flatMap((service) =>
      service.methods.flatMap((method) => {
        if (method.methodKind === "bidi_streaming" || method.methodKind === "client_streaming") {
          expect(hasOption(method, http), `${service.name}.${method.name} streams from the client: it cannot have a REST binding`).toBe(
            false,
          );
          return [];
        }
        expect(hasOption(method, http), `${service.name}.${method.name} has no google.api.http rule`).toBe(true);
        const bindings = 1 + getOption(method, http).additionalBindings.length;
        return Array.from({ length: bindings }, (_, index) => `${service.name}_${method.name}${index === 0 ? "" : `_${index + 1}`}`);
      }),
    );
    expect(new Set(services.map((service) => service.name))).toEqual(
      new Set(["AdminService", "AuthService", "RunsService", "WebhooksService", "WorkerService", "WorkflowsService"]),
    );
    expect(
      operations()
        .map((operation) => operation.operationId)
        .sort(),
    ).toEqual(expected.sort());
  });

  it("binds CancelRun at /cancel and :cancel, and ListRuns' filters to query parameters", () => {
    expect(document.paths["/api/v1/runs/{run_id}/cancel"]?.post?.operationId).toBe("RunsService_CancelRun");
    expect(document.paths["/api/v1/runs/{run_id}:cancel"]?.post?.operationId).toBe("RunsService_CancelRun_2");
    const listRuns = operationById("RunsService_ListRuns");
    expect(listRuns.parameters?.map((parameter) => parameter.name)).toEqual([
      "pageSize",
      "pageToken",
      "status",
      "workflow",
      "createdBy",
      "labels",
      "createTimeAfter",
      "createTimeBefore",
      "updateTimeAfter",
      "updateTimeBefore",
    ]);
    expect(listRuns.parameters?.find((parameter) => parameter.name === "labels")).toMatchObject({ style: "deepObject", explode: true });
  });

  it("declares a required path parameter for every {variable} of every path", () => {
    for (const [template, item] of Object.entries(document.paths)) {
      const variables = [...template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      for (const operation of Object.values(item)) {
        const declared = (operation.parameters ?? []).filter((parameter) => parameter.in === "path");
        expect(
          declared.map((parameter) => parameter.name),
          `${operation.operationId} ${template}`,
        ).toEqual(variables);
        for (const parameter of declared) expect(parameter.required).toBe(true);
      }
    }
  });

  it("takes its descriptions from the proto comments", () => {
    const run = document.components.schemas["runline.v1.Run"];
    expect(run?.description).toBe("One execution of a workflow version.");
    expect(run?.properties?.["status"]).toEqual({ $ref: "#/components/schemas/runline.v1.RunStatus", description: "Current status." });
    expect(document.components.schemas["runline.v1.RunStatus"]?.description).toContain(
      "- `RUN_STATUS_QUEUED`: Waiting in the queue for an executor to claim it.",
    );
    expect(document.tags.find((tag) => tag.name === "RunsService")?.description).toMatch(/^RunsService is for callers that start runs/);
    const createRun = operationById("RunsService_CreateRun");
    expect(createRun.summary).toBe("Starts a run of a workflow.");
    expect(createRun.description).toContain("`Idempotency-Key` header");
    expect(createRun.parameters).toEqual([
      {
        name: "Idempotency-Key",
        in: "header",
        description:
          "Makes retries safe: the same key and request return the same run for at least 24 h.\n\nSets the request field `idempotencyKey`.",
        schema: { type: "string" },
      },
    ]);
    expect(operationById("RunsService_StreamRunEvents_2").parameters?.map((parameter) => `${parameter.in} ${parameter.name}`)).toEqual([
      "path run_id",
      "header Last-Event-ID",
      "query afterSequence",
    ]);
    expect(operationById("RunsService_GetRun").parameters?.[0]).toMatchObject({ name: "run_id", in: "path", description: "The run's id." });
  });

  it("uses the proto3 JSON names and forms", () => {
    const properties = document.components.schemas["runline.v1.Run"]?.properties ?? {};
    expect(Object.keys(properties)).toEqual(
      expect.arrayContaining([
        "id",
        "workflowId",
        "workflowVersion",
        "status",
        "input",
        "labels",
        "attempt",
        "createdBy",
        "createTime",
        "updateTime",
        "startTime",
        "endTime",
      ]),
    );
    expect(properties["lastSequence"]).toMatchObject({ type: "string", format: "int64" });
    expect(properties["createTime"]).toMatchObject({ type: "string", format: "date-time" });
    expect(properties["timeout"]).toMatchObject({ type: "string", pattern: expect.any(String) });
    expect(properties["input"]).toEqual({ description: "The input the run was started with (any JSON value)." });
  });

  it("offers the access_token query parameter beside bearer auth on the stream GET routes only", () => {
    expect(document.components.securitySchemes?.queryToken).toMatchObject({ type: "apiKey", in: "query", name: "access_token" });
    const withQueryToken = operations()
      .filter((operation) => operation.security !== undefined)
      .map((operation) => operation.operationId)
      .sort();
    expect(withQueryToken).toEqual(["RunsService_StreamRunEvents", "RunsService_StreamRunEvents_2"]);
    expect(operationById("RunsService_StreamRunEvents").security).toEqual([{ bearerAuth: [] }, { queryToken: [] }]);
  });

  it("documents streams as Server-Sent Events and NDJSON", () => {
    const stream = operationById("RunsService_StreamRunEvents").responses["200"];
    expect(Object.keys((stream as { content: object }).content)).toEqual(["text/event-stream", "application/x-ndjson"]);
  });

  it("lists the error statuses each operation can answer, each a google.rpc.Status", () => {
    const statuses = (operationId: string) =>
      Object.keys(operationById(operationId).responses).filter((status) => status !== "200" && status !== "default");
    expect(statuses("RunsService_GetRun")).toEqual(["400", "401", "403", "404", "429", "500", "503", "504"]);
    expect(statuses("RunsService_ListRuns")).toEqual(["400", "401", "403", "429", "500", "503", "504"]);
    expect(statuses("RunsService_CreateRun")).toEqual(["400", "401", "403", "404", "409", "413", "415", "429", "500", "503", "504"]);
    expect(statuses("WorkerService_Heartbeat")).toEqual(["400", "401", "403", "404", "413", "415", "429", "500", "503", "504"]);
    for (const operation of operations()) {
      expect(operation.responses["default"], operation.operationId).toEqual({ $ref: "#/components/responses/Error" });
      expect(
        Object.keys(operation.responses).some((status) => status.startsWith("4")),
        operation.operationId,
      ).toBe(true);
    }
    expect(document.components.responses["Conflict"]).toMatchObject({
      description: expect.stringMatching(/`ALREADY_EXISTS`: .*\n- `ABORTED`: /),
      content: { "application/json": { schema: { $ref: "#/components/schemas/google.rpc.Status" } } },
    });
  });

  it("describes google.rpc.ErrorInfo and BadRequest as details told apart by @type", () => {
    const details = document.components.schemas["google.rpc.Status"]?.properties?.["details"];
    expect(details?.items?.anyOf?.slice(0, 2)).toEqual([
      { $ref: "#/components/schemas/google.rpc.ErrorInfo" },
      { $ref: "#/components/schemas/google.rpc.BadRequest" },
    ]);
    expect(document.components.schemas["google.rpc.ErrorInfo"]?.properties?.["@type"]).toEqual({
      type: "string",
      const: "type.googleapis.com/google.rpc.ErrorInfo",
    });
    expect(Object.keys(document.components.schemas["google.rpc.ErrorInfo"]?.properties ?? {})).toEqual([
      "@type",
      "reason",
      "domain",
      "metadata",
    ]);
    expect(document.components.schemas["google.rpc.BadRequest"]?.properties?.["fieldViolations"]?.items?.properties).toHaveProperty(
      "field",
    );
  });

  it("documents the REST hooks' headers, the 304 of GetRunDefinition and the 204 of GetRunOutput", () => {
    const createRun = operationById("RunsService_CreateRun").responses["200"] as { headers: Record<string, { description: string }> };
    expect(createRun.headers["Idempotent-Replayed"]?.description).toContain("Carries the response field `idempotentReplayed`.");
    const definition = operationById("RunsService_GetRunDefinition");
    expect(definition.parameters?.map((parameter) => `${parameter.in} ${parameter.name}`)).toEqual(["path run_id", "header If-None-Match"]);
    expect(definition.responses["304"]).toMatchObject({ headers: { ETag: { required: true }, "X-Request-Id": expect.any(Object) } });
    expect(definition.responses["304"]).not.toHaveProperty("content");
    const output = operationById("RunsService_GetRunOutput").responses["204"];
    expect(Object.keys((output as { headers: object }).headers)).toEqual(["X-Request-Id", "Runline-Run-Status", "Runline-Run-Done"]);
    expect(output).not.toHaveProperty("content");
  });

  it("marks every request body required", () => {
    const bodies = operations().filter((operation) => operation.requestBody !== undefined);
    expect(bodies.length).toBeGreaterThan(20);
    for (const operation of bodies) expect(operation.requestBody?.required, operation.operationId).toBe(true);
  });

  it("names fields by their JSON names in every description", () => {
    const protoNames = new Set(
      services
        .flatMap((service) => [service.file, ...service.file.dependencies])
        .flatMap((file) =>
          file.messages.flatMap((message) => message.fields.filter((field) => field.name !== field.jsonName).map((field) => field.name)),
        ),
    );
    const text = JSON.stringify(document);
    const spans = [...text.matchAll(/`([a-z][a-z0-9_]*)`/g)].map((match) => match[1] as string);
    expect(spans.filter((span) => protoNames.has(span))).toEqual([]);
    expect(operationById("RunsService_StreamRunEvents").description).toContain("then come the stored events after `afterSequence`");
    expect(document.components.schemas["runline.v1.ApiKey"]?.properties?.["id"]?.description).toBe(
      "The key's id; runs record it as `createdBy`.",
    );
  });

  it("puts bindings that differ only in variable names on one path", () => {
    const webhook = document.paths["/api/v1/webhooks/{id}"];
    expect(Object.keys(webhook ?? {}).sort()).toEqual(["delete", "get", "patch"]);
    expect(document.paths["/api/v1/webhooks/{webhook.id}"]).toBeUndefined();
    expect(webhook?.patch?.parameters?.[0]).toMatchObject({ name: "id", in: "path", required: true });
    expect(webhook?.patch?.parameters?.[0]?.description).toContain("Sets the request field `webhook.id`.");
  });

  it("requires HTTP bearer authentication", () => {
    expect(document.components.securitySchemes?.["bearerAuth"]).toMatchObject({ type: "http", scheme: "bearer" });
    expect(document.security).toEqual([{ bearerAuth: [] }]);
  });

  it("turns into openapi-typescript types for the run paths, the same as the committed ones", async () => {
    const directory = await mkdtemp(path.join(tmpdir(), "runline-openapi-"));
    try {
      const file = path.join(directory, "runline.ts");
      await writeFile(file, astToString(await openapiTS(documentFile, { silent: true })));
      const types = await readFile(file, "utf8");
      expect(types).toContain('"/api/v1/runs": {');
      expect(types).toContain('"/api/v1/runs/{run_id}": {');
      expect(types).toContain("RunsService_CreateRun: {");
      expect(await readFile(typesFile, "utf8")).toContain(types);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
