/**
 * REST transcoding, table-driven against a real server: each case is one HTTP request
 * and what must come back. The echo handlers return the request message they received,
 * so a case's expected JSON is exactly what the transcoder mapped from path, query and body.
 */
import type { DescService } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createRouterTransport } from "@connectrpc/connect";
import {
  ConflictingBindingsService,
  MisplacedDeepWildcardService,
  RepeatedPathVariableService,
  TranscodingTestService,
  UnknownBodyFieldService,
} from "../../gen/transcodingtest/v1/test_service_pb.js";
import { parsePathTemplate } from "../../src/http/transcoding/path-template.js";
import { createRestHandler } from "../../src/http/transcoding/rest-handler.js";
import type { RestOptions } from "../../src/http/transcoding/rest-options.js";
import { startEchoServer, testHooks, type EchoServer } from "./echo-server.js";

interface Case {
  readonly name: string;
  /** Default GET. */
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** Strings and bytes are sent as they are (bytes without Content-Type); anything else as JSON. */
  readonly body?: unknown;
  readonly status: number;
  /** The whole JSON body, compared exactly. */
  readonly json?: unknown;
  /** For errors: the gRPC code and a part of the message. */
  readonly error?: { readonly code: Code; readonly message: string };
  /** The RPC that must have answered (its `answered-by` header). */
  readonly answeredBy?: string;
  /** Response headers that must be present with these values, or absent (null). */
  readonly responseHeaders?: Record<string, string | null>;
}

let server: EchoServer;
beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(() => server.close());

async function send(testCase: Case, base: string): Promise<{ response: Response; text: string }> {
  const headers = new Headers(testCase.headers);
  let body: string | Uint8Array | undefined;
  if (typeof testCase.body === "string" || testCase.body instanceof Uint8Array) body = testCase.body;
  else if (testCase.body !== undefined) {
    body = JSON.stringify(testCase.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const response = await fetch(`${base}${testCase.path}`, { method: testCase.method ?? "GET", headers, body: body ?? null });
  return { response, text: await response.text() };
}

async function check(testCase: Case, base = server.url): Promise<void> {
  const { response, text } = await send(testCase, base);
  expect(response.status, text).toBe(testCase.status);
  if (testCase.json !== undefined) expect(JSON.parse(text)).toEqual(testCase.json);
  if (testCase.error !== undefined) {
    expect(response.headers.get("content-type")).toBe("application/json");
    const status = JSON.parse(text) as { code: number; message: string; details: unknown[] };
    expect(status.code).toBe(testCase.error.code);
    expect(status.message).toContain(testCase.error.message);
    expect(Array.isArray(status.details)).toBe(true);
  }
  if (testCase.answeredBy !== undefined) expect(response.headers.get("answered-by")).toBe(testCase.answeredBy);
  for (const [name, value] of Object.entries(testCase.responseHeaders ?? {})) expect(response.headers.get(name), name).toBe(value);
}

const templates: Case[] = [
  { name: "a single-segment variable", path: "/v1/resources/abc", status: 200, json: { id: "abc" }, answeredBy: "GetResource" },
  {
    name: "a multi-segment variable in an additional binding",
    path: "/v1/shelves/s1/books/b2",
    status: 200,
    json: { name: "shelves/s1/books/b2" },
    answeredBy: "GetResource",
  },
  {
    name: "variables naming nested fields, one an integer",
    path: "/v1/nested/n1/items/7",
    status: 200,
    json: { nested: { name: "n1", count: 7 } },
  },
  {
    name: "a malformed integer path variable is a 400 naming it",
    path: "/v1/nested/n1/items/x",
    status: 400,
    error: { code: Code.InvalidArgument, message: 'path variable "nested.count"' },
  },
  {
    name: "a ** variable takes the rest of the path",
    path: "/v1/files/a/b/c.txt",
    status: 200,
    json: { name: "a/b/c.txt" },
    answeredBy: "GetFile",
  },
  { name: "a multi-segment variable keeps %2F encoded", path: "/v1/files/a%2Fb/c%20d", status: 200, json: { name: "a%2Fb/c d" } },
  { name: "a single-segment variable is fully decoded", path: "/v1/resources/a%2Fb%20c", status: 200, json: { id: "a/b c" } },
  {
    name: "an unnamed * matches one segment",
    path: "/v1/wild/anything/items/i1",
    status: 200,
    json: { id: "i1" },
    answeredBy: "MatchWildcards",
  },
  { name: "an unnamed ** matches the rest", path: "/v1/deep/x/y/z", status: 200, json: {}, answeredBy: "MatchWildcards" },
  {
    name: "a :verb suffix routes to the custom method",
    method: "POST",
    path: "/v1/resources/r1:cancel",
    body: { text: "why" },
    status: 200,
    json: { id: "r1", text: "why" },
    answeredBy: "CancelResource",
  },
  {
    name: "a colon that is no verb stays in the variable",
    path: "/v1/resources/a:b",
    status: 200,
    json: { id: "a:b" },
    answeredBy: "GetResource",
  },
  {
    name: "an encoded colon is never a verb",
    path: "/v1/resources/a%3Acancel",
    status: 200,
    json: { id: "a:cancel" },
    answeredBy: "GetResource",
  },
  {
    name: "a custom HTTP method (REPORT)",
    method: "REPORT",
    path: "/v1/reports/r9",
    status: 200,
    json: { id: "r9" },
    answeredBy: "ReportResource",
  },
  {
    name: "an unknown path is a 404 with a Status body",
    path: "/v1/nope",
    status: 404,
    error: { code: Code.NotFound, message: "no REST route matches GET /v1/nope" },
  },
  {
    name: "a trailing slash is another path",
    path: "/v1/resources/",
    status: 404,
    error: { code: Code.NotFound, message: "no REST route" },
  },
  {
    name: "the wrong method is a 405 with Allow",
    path: "/v1/resources",
    status: 405,
    error: { code: Code.Unimplemented, message: "allowed: POST" },
    responseHeaders: { allow: "POST" },
  },
  {
    name: "a 405 lists every method of the path",
    method: "DELETE",
    path: "/v1/resources/r1/nested",
    status: 405,
    responseHeaders: { allow: "GET, PATCH" },
  },
  { name: "a verb path with the wrong method is a 405", path: "/v1/resources/r1:cancel", status: 405, responseHeaders: { allow: "POST" } },
  { name: "a custom method's path with GET is a 405", path: "/v1/reports/r9", status: 405, responseHeaders: { allow: "REPORT" } },
];

const query: Case[] = [
  { name: "a string", path: "/v1/echo?text=hello%20world", status: 200, json: { text: "hello world" }, answeredBy: "EchoQuery" },
  { name: "int32 by JSON name", path: "/v1/echo?int32Value=-5", status: 200, json: { int32Value: -5 } },
  { name: "int32 by proto name", path: "/v1/echo?int32_value=7", status: 200, json: { int32Value: 7 } },
  { name: "int64 beyond 2^53", path: "/v1/echo?int64Value=9007199254740993", status: 200, json: { int64Value: "9007199254740993" } },
  {
    name: "uint64 at its maximum",
    path: "/v1/echo?uint64Value=18446744073709551615",
    status: 200,
    json: { uint64Value: "18446744073709551615" },
  },
  {
    name: "int32 out of range is a 400",
    path: "/v1/echo?int32Value=2147483648",
    status: 400,
    error: { code: Code.InvalidArgument, message: "out of range" },
  },
  {
    name: "a fraction for an integer is a 400",
    path: "/v1/echo?int32Value=1.5",
    status: 400,
    error: { code: Code.InvalidArgument, message: 'query parameter "int32Value"' },
  },
  {
    name: "double and float, NaN included",
    path: "/v1/echo?doubleValue=1.25&floatValue=NaN",
    status: 200,
    json: { doubleValue: 1.25, floatValue: "NaN" },
  },
  { name: "bool", path: "/v1/echo?flag=true", status: 200, json: { flag: true } },
  {
    name: "a bool that is not true/false is a 400",
    path: "/v1/echo?flag=yes",
    status: 400,
    error: { code: Code.InvalidArgument, message: "expected true or false" },
  },
  {
    name: "bytes in standard base64 (an unescaped + arrives as a space)",
    path: "/v1/echo?data=+/+/AQ==",
    status: 200,
    json: { data: "+/+/AQ==" },
  },
  { name: "bytes in URL-safe base64 without padding", path: "/v1/echo?data=-_-_AQ", status: 200, json: { data: "+/+/AQ==" } },
  {
    name: "bytes that are not base64 are a 400",
    path: "/v1/echo?data=!!!",
    status: 400,
    error: { code: Code.InvalidArgument, message: "expected base64" },
  },
  { name: "an enum by name", path: "/v1/echo?color=COLOR_RED", status: 200, json: { color: "COLOR_RED" } },
  { name: "an enum by number", path: "/v1/echo?color=2", status: 200, json: { color: "COLOR_GREEN" } },
  {
    name: "an unknown enum name is a 400",
    path: "/v1/echo?color=COLOR_BLUE",
    status: 400,
    error: { code: Code.InvalidArgument, message: "COLOR_BLUE" },
  },
  { name: "repeated strings", path: "/v1/echo?tags=a&tags=b", status: 200, json: { tags: ["a", "b"] } },
  {
    name: "repeated int64 and enums",
    path: "/v1/echo?numbers=1&numbers=-2&colors=COLOR_RED&colors=2",
    status: 200,
    json: { numbers: ["1", "-2"], colors: ["COLOR_RED", "COLOR_GREEN"] },
  },
  {
    name: "a singular field given twice is a 400",
    path: "/v1/echo?text=a&text=b",
    status: 400,
    error: { code: Code.InvalidArgument, message: "given 2 times" },
  },
  // A hostile probe: under two spellings one of them silently won (`pageSize=1&page_size=3` listed 3).
  {
    name: "a singular field under its JSON and its proto name is a 400",
    path: "/v1/echo?int64Value=1&int64_value=2",
    status: 400,
    error: { code: Code.InvalidArgument, message: 'query parameters "int64Value" and "int64_value" both set this field' },
  },
  {
    name: "one map key as labels[key] and labels.key is a 400",
    path: "/v1/echo?labels[env]=prod&labels.env=dev",
    status: 400,
    error: { code: Code.InvalidArgument, message: 'query parameters "labels[env]" and "labels.env" both set this field' },
  },
  {
    name: "nested fields with dots",
    path: "/v1/echo?nested.name=x&nested.count=3&nested.child.name=y&nested.notes=a&nested.notes=b",
    status: 200,
    json: { nested: { name: "x", count: 3, child: { name: "y" }, notes: ["a", "b"] } },
  },
  {
    name: "a Timestamp in RFC 3339",
    path: "/v1/echo?time=2024-01-02T03:04:05.5Z",
    status: 200,
    json: { time: "2024-01-02T03:04:05.500Z" },
  },
  {
    name: "a malformed Timestamp is a 400 naming it",
    path: "/v1/echo?time=yesterday",
    status: 400,
    error: { code: Code.InvalidArgument, message: 'query parameter "time"' },
  },
  { name: "a Duration", path: "/v1/echo?duration=1.5s", status: 200, json: { duration: "1.500s" } },
  {
    name: "a Duration without its unit is a 400",
    path: "/v1/echo?duration=90",
    status: 400,
    error: { code: Code.InvalidArgument, message: "google.protobuf.Duration" },
  },
  {
    name: "a FieldMask, camel and snake case",
    path: "/v1/echo?mask=nestedByKey,wrapped_text",
    status: 200,
    json: { mask: "nestedByKey,wrappedText" },
  },
  {
    name: "wrappers",
    path: "/v1/echo?wrappedText=hi&wrappedInt=5&wrappedFlag=false",
    status: 200,
    json: { wrappedText: "hi", wrappedInt: "5", wrappedFlag: false },
  },
  {
    name: "a Value from JSON text",
    path: `/v1/echo?value=${encodeURIComponent('{"a":[1,true]}')}`,
    status: 200,
    json: { value: { a: [1, true] } },
  },
  { name: "a Value that is not JSON is a string", path: "/v1/echo?value=hello", status: 200, json: { value: "hello" } },
  {
    name: "a Struct from JSON text",
    path: `/v1/echo?structValue=${encodeURIComponent('{"k":"v"}')}`,
    status: 200,
    json: { structValue: { k: "v" } },
  },
  {
    name: "a Struct that is not an object is a 400",
    path: "/v1/echo?structValue=[1]",
    status: 400,
    error: { code: Code.InvalidArgument, message: "google.protobuf.Struct" },
  },
  {
    name: "map entries as labels[key] and labels.key",
    path: "/v1/echo?labels[env]=prod&labels.team=core",
    status: 200,
    json: { labels: { env: "prod", team: "core" } },
  },
  { name: "a dotted map key", path: "/v1/echo?labels.a.b=c", status: 200, json: { labels: { "a.b": "c" } } },
  { name: "an integer map key", path: "/v1/echo?namesByNumber[5]=five", status: 200, json: { namesByNumber: { "5": "five" } } },
  {
    name: "a malformed integer map key is a 400",
    path: "/v1/echo?namesByNumber[x]=y",
    status: 400,
    error: { code: Code.InvalidArgument, message: "expected a 32-bit integer" },
  },
  {
    name: "a map without a key is a 400",
    path: "/v1/echo?labels=x",
    status: 400,
    error: { code: Code.InvalidArgument, message: "labels[key]" },
  },
  {
    name: "a map of messages is a 400",
    path: "/v1/echo?nestedByKey[k]=v",
    status: 400,
    error: { code: Code.InvalidArgument, message: "cannot be set from text" },
  },
  {
    name: "repeated messages are a 400",
    path: "/v1/echo?items=x",
    status: 400,
    error: { code: Code.InvalidArgument, message: "cannot be set from text" },
  },
  {
    name: "a message as a whole is a 400",
    path: "/v1/echo?nested=x",
    status: 400,
    error: { code: Code.InvalidArgument, message: "set its fields one by one" },
  },
  {
    name: "a step through a scalar is a 400",
    path: "/v1/echo?text.x=1",
    status: 400,
    error: { code: Code.InvalidArgument, message: "not a singular message field" },
  },
  {
    name: "two members of one oneof are a 400",
    path: "/v1/echo?choiceText=a&choiceNumber=1",
    status: 400,
    error: { code: Code.InvalidArgument, message: 'oneof "choice"' },
  },
  { name: "an optional field set to zero stays set", path: "/v1/echo?optionalNumber=0", status: 200, json: { optionalNumber: 0 } },
  {
    name: "a custom json_name and the proto name",
    path: "/v1/echo?customName=z&int64_value=1",
    status: 200,
    json: { customName: "z", int64Value: "1" },
  },
  {
    name: "an unknown parameter is a 400 naming it",
    path: "/v1/echo?bogus=1",
    status: 400,
    error: { code: Code.InvalidArgument, message: 'unknown query parameter "bogus"' },
  },
  {
    name: "a parameter for a path field is a 400",
    path: "/v1/resources/abc?id=other",
    status: 400,
    error: { code: Code.InvalidArgument, message: "comes from the URL path" },
  },
  {
    name: "query beside a path variable",
    path: "/v1/resources/abc?text=t&nested.count=2",
    status: 200,
    json: { id: "abc", text: "t", nested: { count: 2 } },
  },
];

const bodies: Case[] = [
  {
    name: 'body "*" by JSON names',
    method: "POST",
    path: "/v1/resources",
    body: { text: "t", int64Value: "12", nested: { name: "n" }, structValue: { a: { b: [1] } } },
    status: 200,
    json: { text: "t", int64Value: "12", nested: { name: "n" }, structValue: { a: { b: [1] } } },
    answeredBy: "CreateResource",
  },
  {
    name: 'body "*" by proto names',
    method: "POST",
    path: "/v1/resources",
    body: { int64_value: 3, wrapped_text: "w", items: [{ name: "i" }] },
    status: 200,
    json: { int64Value: "3", wrappedText: "w", items: [{ name: "i" }] },
  },
  {
    name: "an unknown body field is a 400 naming it",
    method: "POST",
    path: "/v1/resources",
    body: { bogus: 1 },
    status: 400,
    error: { code: Code.InvalidArgument, message: 'bogus: unknown field: transcodingtest.v1.Sample has no field "bogus"' },
  },
  {
    name: "malformed JSON is a 400",
    method: "POST",
    path: "/v1/resources",
    body: "{not json",
    headers: { "content-type": "application/json" },
    status: 400,
    error: { code: Code.InvalidArgument, message: "invalid JSON body" },
  },
  {
    name: "a duplicate key is a 400",
    method: "POST",
    path: "/v1/resources",
    body: '{"text":"a","text":"b"}',
    headers: { "content-type": "application/json" },
    status: 400,
    error: { code: Code.InvalidArgument, message: "invalid JSON body" },
  },
  { name: 'an empty body with body "*" is {}', method: "POST", path: "/v1/resources", status: 200, json: {} },
  {
    name: "a text/plain body is a 415",
    method: "POST",
    path: "/v1/resources",
    body: "{}",
    headers: { "content-type": "text/plain" },
    status: 415,
    error: { code: Code.InvalidArgument, message: "send application/json" },
  },
  {
    name: "a form body is a 415",
    method: "POST",
    path: "/v1/resources",
    body: "a=1",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    status: 415,
  },
  {
    name: "application/json with charset utf-8",
    method: "POST",
    path: "/v1/resources",
    body: '{"text":"é"}',
    headers: { "content-type": "application/json; charset=utf-8" },
    status: 200,
    json: { text: "é" },
  },
  {
    name: "a body without Content-Type is read as JSON",
    method: "POST",
    path: "/v1/resources",
    body: new TextEncoder().encode('{"text":"x"}'),
    status: 200,
    json: { text: "x" },
  },
  {
    name: "a compressed body is a 415",
    method: "POST",
    path: "/v1/resources",
    body: { text: "x" },
    headers: { "content-encoding": "gzip" },
    status: 415,
    error: { code: Code.InvalidArgument, message: "Content-Encoding" },
  },
  {
    name: 'the query is refused with body "*"',
    method: "POST",
    path: "/v1/resources?text=x",
    body: {},
    status: 400,
    error: { code: Code.InvalidArgument, message: 'body: "*"' },
  },
  {
    name: "the path wins over the body",
    method: "POST",
    path: "/v1/resources/r1:cancel",
    body: { id: "other", text: "t" },
    status: 200,
    json: { id: "r1", text: "t" },
  },
  {
    name: 'body "field" with a message, plus query',
    method: "PATCH",
    path: "/v1/resources/r1/nested?text=q",
    body: { name: "n", count: 2 },
    status: 200,
    json: { id: "r1", nested: { name: "n", count: 2 }, text: "q" },
    answeredBy: "UpdateNested",
  },
  {
    name: "the query may not set fields of the body field",
    method: "PATCH",
    path: "/v1/resources/r1/nested?nested.name=x",
    body: {},
    status: 400,
    error: { code: Code.InvalidArgument, message: 'body: "nested"' },
  },
  {
    name: 'body "field" with a map',
    method: "PUT",
    path: "/v1/resources/r1/labels",
    body: { a: "1", b: "2" },
    status: 200,
    json: { id: "r1", labels: { a: "1", b: "2" } },
    answeredBy: "ReplaceLabels",
  },
  {
    name: 'body "field" with a repeated field',
    method: "POST",
    path: "/v1/resources/r1/tags",
    body: ["x", "y"],
    status: 200,
    json: { id: "r1", tags: ["x", "y"] },
    answeredBy: "AppendTags",
  },
  {
    name: "a body of the wrong JSON type is a 400",
    method: "POST",
    path: "/v1/resources/r1/tags",
    body: { a: 1 },
    status: 400,
    error: { code: Code.InvalidArgument, message: 'tags: expected a JSON array, got {"a":1}' },
  },
  {
    name: "a body cannot escape its field",
    method: "POST",
    path: "/v1/resources/r1/tags",
    body: '["x"], "text": "y"',
    headers: { "content-type": "application/json" },
    status: 400,
    error: { code: Code.InvalidArgument, message: "invalid JSON body" },
  },
  {
    name: "a binding without body refuses one",
    method: "DELETE",
    path: "/v1/resources/r1?flag=true",
    body: { text: "x" },
    status: 400,
    error: { code: Code.InvalidArgument, message: "takes no request body" },
  },
  {
    name: "DELETE with query fields",
    method: "DELETE",
    path: "/v1/resources/r1?flag=true&text=t",
    status: 200,
    json: { id: "r1", flag: true, text: "t" },
    answeredBy: "DeleteResource",
  },
];

const responses: Case[] = [
  {
    name: "response_body selects a message field",
    path: "/v1/resources/r1/nested?nested.name=n",
    status: 200,
    json: { name: "n" },
    answeredBy: "GetNestedOnly",
  },
  { name: "response_body of an unset message is null", path: "/v1/resources/r1/nested", status: 200, json: null },
  {
    name: "response_body selects a repeated field",
    path: "/v1/resources/r1/tags?tags=a&tags=b",
    status: 200,
    json: ["a", "b"],
    answeredBy: "ListTags",
  },
  { name: "response_body of an empty repeated field is []", path: "/v1/resources/r1/tags", status: 200, json: [] },
  {
    name: "handler response headers reach the caller",
    path: "/v1/resources/r1",
    status: 200,
    responseHeaders: { "answered-by": "GetResource", intercepted: "yes", "content-type": "application/json" },
  },
  {
    name: "a request id is echoed",
    path: "/v1/resources/r1",
    headers: { "x-request-id": "req-123" },
    status: 200,
    responseHeaders: { "x-request-id": "req-123" },
  },
];

const hooks: Case[] = [
  {
    name: "beforeCall: Idempotency-Key into a field",
    method: "POST",
    path: "/v1/resources",
    headers: { "idempotency-key": "k1" },
    body: {},
    status: 200,
    json: { text: "k1" },
  },
  { name: "afterCall: a weak ETag", path: "/v1/resources/r1", status: 200, responseHeaders: { etag: 'W/"r1"' } },
  {
    name: "afterCall: If-None-Match gives 304 without body",
    path: "/v1/resources/r1",
    headers: { "if-none-match": 'W/"r1"' },
    status: 304,
    responseHeaders: { etag: 'W/"r1"', "content-type": null },
  },
  {
    name: "afterCall: 204 for an empty outcome",
    method: "DELETE",
    path: "/v1/resources/r1",
    status: 204,
    responseHeaders: { "content-type": null },
  },
  {
    name: "alternatives: JSON callers get the polling method",
    path: "/v1/resources/r1/events",
    status: 200,
    json: { id: "r1" },
    answeredBy: "ListSamples",
  },
];

describe("path templates and routing", () => {
  it.each(templates.map((c) => [c.name, c] as const))("%s", (_name, testCase) => check(testCase));
});

describe("query parameters", () => {
  it.each(query.map((c) => [c.name, c] as const))("%s", (_name, testCase) => check(testCase));
});

describe("request bodies", () => {
  it.each(bodies.map((c) => [c.name, c] as const))("%s", (_name, testCase) => check(testCase));
});

describe("responses", () => {
  it.each(responses.map((c) => [c.name, c] as const))("%s", (_name, testCase) => check(testCase));
});

describe("hooks", () => {
  it.each(hooks.map((c) => [c.name, c] as const))("%s", (_name, testCase) => check(testCase));
});

describe("limits and lenient servers", () => {
  let small: EchoServer;
  beforeAll(async () => {
    small = await startEchoServer({ maxBodyBytes: 64, allowUnknownQueryParameters: true });
  });
  afterAll(() => small.close());

  const cases: Case[] = [
    {
      name: "a body over the limit is a 413",
      method: "POST",
      path: "/v1/resources",
      body: { text: "x".repeat(200) },
      status: 413,
      error: { code: Code.ResourceExhausted, message: "larger than 64 bytes" },
    },
    {
      name: "a body at the limit is read",
      method: "POST",
      path: "/v1/resources",
      body: { text: "x".repeat(40) },
      status: 200,
      json: { text: "x".repeat(40) },
    },
    { name: "unknown query parameters can be allowed", path: "/v1/echo?bogus=1&text=t", status: 200, json: { text: "t" } },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, testCase) => check(testCase, small.url));

  it("a chunked body without Content-Length is cut off at the limit with 413", async () => {
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let index = 0; index < 10; index++) controller.enqueue(new TextEncoder().encode(`{"text":"${"y".repeat(20)}"}`));
        controller.close();
      },
    });
    const response = await fetch(`${small.url}/v1/resources`, {
      method: "POST",
      body: chunks,
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { code: number }).code).toBe(Code.ResourceExhausted);
  });
});

describe("annotations and hooks that cannot be served are refused at start-up", () => {
  const cases: Array<{ name: string; services: DescService[]; options?: Partial<RestOptions>; error: RegExp }> = [
    {
      name: "two bindings with the same method and template",
      services: [TranscodingTestService, ConflictingBindingsService],
      error:
        /conflicting REST bindings: GET \/v1\/resources\/\{name\} \(transcodingtest\.v1\.ConflictingBindingsService\.GetOther\) and GET \/v1\/resources\/\{id\} \(transcodingtest\.v1\.TranscodingTestService\.GetResource\)/,
    },
    {
      name: "a path variable on a repeated field",
      services: [RepeatedPathVariableService],
      error: /GET \/v1\/by-tags\/\{tags\}.*"tags" must name a singular scalar or enum field/,
    },
    {
      name: "a body field the request does not have",
      services: [UnknownBodyFieldService],
      error: /body "missing" is not a top-level field/,
    },
    { name: "** before the last segment", services: [MisplacedDeepWildcardService], error: /'\*\*' must be the last segment/ },
    {
      name: "hooks for a method that is not served",
      services: [ConflictingBindingsService],
      options: { hooks: testHooks },
      error: /REST hooks for transcodingtest\.v1\.TranscodingTestService\.\w+: not a method of the served services/,
    },
    {
      name: "a Last-Event-ID field the request does not have",
      services: [TranscodingTestService],
      options: { lastEventIdField: () => "missing" },
      error: /Last-Event-ID field for transcodingtest\.v1\.TranscodingTestService\.StreamSamples: "missing"/,
    },
    {
      name: "a Last-Event-ID field that is a message",
      services: [TranscodingTestService],
      options: { lastEventIdField: () => "nested" },
      error: /"nested" is not a singular scalar field/,
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, testCase) => {
    const transport = createRouterTransport(() => {});
    expect(() => createRestHandler({ services: testCase.services, transport, ...testCase.options })).toThrow(testCase.error);
  });

  const templates: Array<[template: string, problem: string]> = [
    ["v1/things", "must start with '/'"],
    ["/v1/{name", "is not closed with '}'"],
    ["/v1//things", "empty segment"],
    ["/v1/{a}/{a}", 'variable "a" appears twice'],
    ["/v1/things:", "empty verb"],
    ["/v1/{1a}", "is not a field path"],
    ["/v1/{a={b}}", "cannot contain another variable"],
    ["/v1/{a=**}/x", "'**' must be the last segment"],
  ];
  it.each(templates)("the template %s is refused: %s", (template, problem) => {
    expect(() => parsePathTemplate(template)).toThrow(problem);
  });

  it("a template parses into segments, variables and a verb", () => {
    expect(parsePathTemplate("/v1/{name=shelves/*/books/**}:get")).toEqual({
      source: "/v1/{name=shelves/*/books/**}:get",
      segments: [
        { kind: "literal", value: "v1" },
        { kind: "literal", value: "shelves" },
        { kind: "wildcard" },
        { kind: "literal", value: "books" },
        { kind: "deep-wildcard" },
      ],
      verb: "get",
      variables: [{ fieldPath: ["name"], start: 1, end: undefined }],
    });
  });
});
