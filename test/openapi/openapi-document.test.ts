/**
 * The document builder over the transcoder's test service, whose RPCs use every
 * `google.api.http` form: the document must describe each one as the transcoder serves
 * it (path, parameters, body, response), and refuse what the transcoder refuses. These
 * descriptors come from gen/ and carry no comments; descriptions are checked on the
 * generated Runline document (openapi.test.ts).
 */
import type { DescService } from "@bufbuild/protobuf";
import { compileErrors, validate } from "@readme/openapi-parser";
import { describe, expect, it } from "vitest";
import {
  ConflictingBindingsService,
  MisplacedDeepWildcardService,
  RepeatedPathVariableService,
  TranscodingTestService,
  UnknownBodyFieldService,
} from "../../gen/transcodingtest/v1/test_service_pb.js";
import { buildOpenApiDocument } from "../../src/openapi/openapi-document.js";
import type { OperationObject, ParameterObject } from "../../src/openapi/openapi-types.js";

const { document, warnings } = buildOpenApiDocument({ services: [TranscodingTestService], title: "Test", version: "v9" });

function operation(path: string, method: "get" | "post" | "put" | "patch" | "delete"): OperationObject {
  const found = document.paths[path]?.[method];
  if (found === undefined) throw new Error(`no ${method} ${path}; paths: ${Object.keys(document.paths).join(", ")}`);
  return found;
}

function parameter(op: OperationObject, name: string): ParameterObject | undefined {
  return op.parameters?.find((candidate) => candidate.name === name);
}

function queryNames(op: OperationObject): string[] {
  return (op.parameters ?? []).filter((candidate) => candidate.in === "query").map((candidate) => candidate.name);
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

describe("the document for the transcoder's test service", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    // The parser's own document type (from openapi-types) is wider than ours in other places.
    const result = await validate(structuredClone(document) as unknown as Parameters<typeof validate>[0]);
    expect(result.valid, result.valid ? "" : compileErrors(result)).toBe(true);
    expect(document.openapi).toBe("3.1.0");
    expect(document.info).toEqual({ title: "Test", version: "v9" });
  });

  it("names operations Service_Method, numbering additional bindings from _2", () => {
    expect(operation("/v1/resources/{id}", "get").operationId).toBe("TranscodingTestService_GetResource");
    expect(operation("/v1/{name}", "get").operationId).toBe("TranscodingTestService_GetResource_2");
    expect(operation("/v1/resources/{id}/stream", "get").operationId).toBe("TranscodingTestService_StreamSamples_2");
    expect(document.tags).toEqual([{ name: "TranscodingTestService" }]);
  });

  it("keeps :verb suffixes in the path and takes the body without the path's fields", () => {
    const cancel = operation("/v1/resources/{id}:cancel", "post");
    expect(parameter(cancel, "id")).toMatchObject({ in: "path", required: true, schema: { type: "string" } });
    const body = cancel.requestBody?.content["application/json"]?.schema;
    expect(body?.properties).not.toHaveProperty("id");
    expect(body?.properties).toHaveProperty("customName");
    expect(queryNames(cancel)).toEqual([]);
  });

  it("refers to the request message itself when the path sets none of its fields", () => {
    expect(operation("/v1/resources", "post").requestBody?.content["application/json"]?.schema).toEqual(ref("transcodingtest.v1.Sample"));
  });

  it("describes multi-segment and unnamed wildcards as parameters with their pattern", () => {
    expect(parameter(operation("/v1/{name}", "get"), "name")).toMatchObject({
      in: "path",
      schema: { type: "string", pattern: "^shelves/[^/]+/books/[^/]+$" },
    });
    expect(parameter(operation("/v1/{name}", "get"), "name")?.description).toContain("`shelves/*/books/*`");
    expect(parameter(operation("/v1/files/{name}", "get"), "name")?.schema.pattern).toBe("^.*$");
    expect(
      operation("/v1/wild/{_segment1}/items/{id}", "get")
        .parameters?.slice(0, 2)
        .map((p) => p.name),
    ).toEqual(["_segment1", "id"]);
    expect(parameter(operation("/v1/deep/{_rest}", "get"), "_rest")).toMatchObject({ in: "path", required: true });
  });

  it("names nested path variables by their proto field path, typed by the field", () => {
    const nested = operation("/v1/nested/{nested.name}/items/{nested.count}", "get");
    expect(parameter(nested, "nested.count")).toMatchObject({ in: "path", schema: { type: "integer", format: "int32" } });
    const query = queryNames(nested);
    expect(query).not.toContain("nested.name");
    expect(query).not.toContain("nested.count");
    expect(query).toContain("nested.notes");
  });

  it("offers as query parameters exactly the fields the transcoder reads from the query", () => {
    const echo = operation("/v1/echo", "get");
    const query = queryNames(echo);
    expect(query).toEqual(
      expect.arrayContaining([
        "id",
        "int64Value",
        "tags",
        "colors",
        "labels",
        "namesByNumber",
        "time",
        "duration",
        "mask",
        "wrappedText",
        "value",
        "structValue",
        "customName",
        "nested.name",
        "nested.notes",
        "choiceText",
        "optionalNumber",
      ]),
    );
    // Repeated messages, maps of messages and a message inside itself have no query form.
    for (const absent of ["items", "nestedByKey", "nested.child.name", "nested", "renamed"]) expect(query).not.toContain(absent);
    expect(parameter(echo, "int64Value")?.schema).toMatchObject({ type: "string", format: "int64" });
    expect(parameter(echo, "tags")).toMatchObject({ style: "form", explode: true, schema: { type: "array", items: { type: "string" } } });
    expect(parameter(echo, "colors")?.schema).toEqual({ type: "array", items: ref("transcodingtest.v1.Color") });
    expect(parameter(echo, "labels")).toMatchObject({
      style: "deepObject",
      explode: true,
      schema: { type: "object", additionalProperties: { type: "string" } },
    });
    expect(parameter(echo, "wrappedText")?.schema).toEqual({ type: "string" });
    expect(parameter(echo, "structValue")?.description).toContain("JSON text");
    expect(parameter(echo, "choiceText")?.description).toContain("At most one of `choiceText`, `choiceNumber` is set");
  });

  it("leaves the body field out of the query and describes it as the body", () => {
    const update = operation("/v1/resources/{id}/nested", "patch");
    expect(update.requestBody?.content["application/json"]?.schema).toEqual(ref("transcodingtest.v1.Nested"));
    expect(queryNames(update).some((name) => name.startsWith("nested"))).toBe(false);
    expect(operation("/v1/resources/{id}/labels", "put").requestBody?.content["application/json"]?.schema).toEqual({
      type: "object",
      additionalProperties: { type: "string" },
    });
    expect(operation("/v1/resources/{id}/tags", "post").requestBody?.content["application/json"]?.schema).toEqual({
      type: "array",
      items: { type: "string" },
    });
    expect(operation("/v1/resources/{id}", "delete").requestBody).toBeUndefined();
  });

  it("answers with the response_body field's schema when there is one", () => {
    expect(operation("/v1/resources/{id}/nested", "get").responses["200"]).toMatchObject({
      content: { "application/json": { schema: ref("transcodingtest.v1.Nested") } },
    });
    expect(operation("/v1/resources/{id}/tags", "get").responses["200"]).toMatchObject({
      content: { "application/json": { schema: { type: "array", items: { type: "string" } } } },
    });
  });

  it("describes server streams as SSE and NDJSON, and every error as google.rpc.Status", () => {
    const stream = operation("/v1/resources/{id}/events:stream", "get").responses["200"];
    expect(stream).toMatchObject({
      content: {
        "text/event-stream": { schema: { type: "string" } },
        "application/x-ndjson": { schema: { oneOf: [ref("transcodingtest.v1.Sample"), { required: ["error"] }] } },
      },
    });
    expect(operation("/v1/echo", "get").responses["default"]).toEqual({ $ref: "#/components/responses/Error" });
    expect(document.components.schemas["google.rpc.Status"]).toMatchObject({ required: ["code", "message", "details"] });
  });

  it("answers every operation's errors with what the transcoder gives on its own, bodies with 413 and 415 too", () => {
    const statuses = (op: OperationObject) => Object.keys(op.responses);
    expect(statuses(operation("/v1/echo", "get"))).toEqual(["200", "400", "401", "500", "504", "default"]);
    expect(statuses(operation("/v1/resources", "post"))).toEqual(["200", "400", "401", "413", "415", "500", "504", "default"]);
    expect(operation("/v1/resources", "post").requestBody?.required).toBe(true);
    expect(document.components.responses["ContentTooLarge"]).toMatchObject({ description: expect.stringContaining("larger than") });
    expect(document.components.headers?.["X-Request-Id"]).toMatchObject({ required: true, schema: { type: "string" } });
    expect(operation("/v1/echo", "get").responses["200"]).toMatchObject({
      headers: { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } },
    });
    const open = buildOpenApiDocument({ services: [TranscodingTestService], title: "Test", version: "v9", bearerAuth: false }).document;
    expect(open.paths["/v1/echo"]?.get?.responses).not.toHaveProperty("401");
  });

  it("leaves out custom HTTP methods OpenAPI 3.1 cannot express, with a warning", () => {
    expect(document.paths["/v1/reports/{id}"]).toBeUndefined();
    expect(warnings).toEqual([
      expect.stringContaining("REPORT /v1/reports/{id} (transcodingtest.v1.TranscodingTestService.ReportResource)"),
    ]);
  });

  it("maps every field kind to its proto3 JSON schema", () => {
    const properties = document.components.schemas["transcodingtest.v1.Sample"]?.properties ?? {};
    expect(properties["int64Value"]).toMatchObject({ type: "string", format: "int64" });
    expect(properties["uint64Value"]).toMatchObject({ type: "string", format: "uint64" });
    expect(properties["int32Value"]).toEqual({ type: "integer", format: "int32" });
    expect(properties["doubleValue"]).toEqual({ type: "number", format: "double" });
    expect(properties["data"]).toMatchObject({ type: "string", format: "byte" });
    expect(properties["color"]).toEqual(ref("transcodingtest.v1.Color"));
    expect(properties["numbers"]).toMatchObject({ type: "array", items: { type: "string", format: "int64" } });
    expect(properties["time"]).toEqual({ type: "string", format: "date-time" });
    expect(properties["duration"]).toMatchObject({ type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$" });
    expect(properties["mask"]).toMatchObject({ type: "string" });
    expect(properties["wrappedText"]).toEqual({ type: ["string", "null"] });
    expect(properties["wrappedInt"]).toMatchObject({ type: ["string", "null"], format: "int64" });
    expect(properties["wrappedFlag"]).toEqual({ type: ["boolean", "null"] });
    expect(properties["value"]).toEqual({});
    expect(properties["structValue"]).toEqual({ type: "object", additionalProperties: true });
    expect(properties["namesByNumber"]).toEqual({
      type: "object",
      additionalProperties: { type: "string" },
      propertyNames: { pattern: "^-?[0-9]+$" },
    });
    expect(properties["nestedByKey"]).toEqual({ type: "object", additionalProperties: ref("transcodingtest.v1.Nested") });
    expect(properties["customName"]).toEqual({ type: "string" });
    expect(properties).not.toHaveProperty("renamed");
    expect(properties["optionalNumber"]).toEqual({ type: "integer", format: "int32" });
    expect(properties["choiceNumber"]?.description).toContain("oneof `choice`");
    expect(document.components.schemas["transcodingtest.v1.Color"]).toEqual({
      type: "string",
      enum: ["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_GREEN"],
    });
  });

  it("refers to a message inside itself by $ref", () => {
    expect(document.components.schemas["transcodingtest.v1.Nested"]?.properties?.["child"]).toEqual(ref("transcodingtest.v1.Nested"));
  });

  it("requires bearer authentication unless told not to", () => {
    expect(document.security).toEqual([{ bearerAuth: [] }]);
    expect(document.components.securitySchemes?.["bearerAuth"]).toMatchObject({ type: "http", scheme: "bearer" });
    const open = buildOpenApiDocument({ services: [TranscodingTestService], title: "Test", version: "v9", bearerAuth: false }).document;
    expect(open.security).toBeUndefined();
    expect(open.components.securitySchemes).toBeUndefined();
  });
});

describe("annotations the transcoder refuses", () => {
  const build = (service: DescService) => () =>
    buildOpenApiDocument({ services: [TranscodingTestService, service], title: "Test", version: "v1" });

  it("refuses two bindings of one HTTP method and path", () => {
    expect(build(ConflictingBindingsService)).toThrow(
      /GET \/v1\/resources\/\{name\} is already bound to TranscodingTestService_GetResource/,
    );
  });

  it("refuses a path variable on a repeated field, an unknown body field and a misplaced **", () => {
    expect(build(RepeatedPathVariableService)).toThrow(/path variable "tags" must name a singular scalar or enum field/);
    expect(build(UnknownBodyFieldService)).toThrow(/body "missing" is not a top-level field/);
    expect(build(MisplacedDeepWildcardService)).toThrow(/'\*\*' must be the last segment/);
  });
});
