/**
 * The success responses of each operation: `200` as the transcoder writes it (the
 * response message or its `response_body` field as JSON; a server stream as SSE or
 * NDJSON), and what an app's REST hooks add on top, which the descriptors cannot tell:
 *
 * - ResponseHeaderField: a response header carrying a response field
 *   (`Idempotent-Replayed` ← `idempotent_replayed`), on the status it comes with;
 * - EntityTagField: a weak `ETag` derived from a response field, with the
 *   `If-None-Match` request header that turns an unchanged answer into `304`;
 * - NoContentField: `204` with no body when a field or oneof of the response is unset.
 *
 * Every response also carries the transcoder's `X-Request-Id` (a component header).
 */
import type { DescField, DescMessage, DescOneof } from "@bufbuild/protobuf";
import { resolveFieldPath, type RestBinding } from "../http/transcoding/index.js";
import type { SchemaRegistry } from "./json-schemas.js";
import type { HeaderObject, HeadersObject, MediaTypeObject, ParameterObject, ResponseObject, SchemaObject } from "./openapi-types.js";
import { joinParagraphs } from "./proto-comments.js";

/** A response header that an app's REST hook fills from a response field. */
export interface ResponseHeaderField {
  /** The method's full name, `package.Service.Method`. */
  readonly method: string;
  /** The HTTP status whose response carries it: 200, or 204 with a NoContentField. */
  readonly status: number;
  /** The header's name as callers read it, e.g. `Idempotent-Replayed`. */
  readonly header: string;
  /** The response field it carries: proto names, dotted for nested fields; a scalar or an enum. */
  readonly field: string;
}

/** A weak entity tag an app's REST hook derives from a response field, with `If-None-Match` → 304. */
export interface EntityTagField {
  readonly method: string;
  /** The response field the tag is derived from (proto names, dotted). */
  readonly field: string;
}

/** `204 No Content` (no body) when a response field or oneof is unset, as an app's REST hook answers. */
export interface NoContentField {
  readonly method: string;
  /** Proto names, dotted; the last step may name a oneof (`output.outcome`). */
  readonly path: string;
}

/** What the app's REST hooks add to the transcoder's responses. */
export interface ResponseExtras {
  readonly responseHeaders: readonly ResponseHeaderField[];
  readonly entityTags: readonly EntityTagField[];
  readonly noContent: readonly NoContentField[];
}

/** The component name of the request id header every response carries. */
export const requestIdHeaderName = "X-Request-Id";

/** The request id header, for `components.headers`. */
export function requestIdHeader(): HeaderObject {
  return {
    description:
      "The id of this request: the caller's own `X-Request-Id` when it sent one of 1–200 visible ASCII characters, else one the server made up. Quote it when reporting a problem.",
    required: true,
    schema: { type: "string" },
  };
}

/** Headers every response has. */
export function commonHeaders(): HeadersObject {
  return { [requestIdHeaderName]: { $ref: `#/components/headers/${requestIdHeaderName}` } };
}

function methodName(binding: RestBinding): string {
  return `${binding.method.parent.typeName}.${binding.method.name}`;
}

/** The success responses of one binding, by status. */
export function successResponsesOf(binding: RestBinding, registry: SchemaRegistry, extras: ResponseExtras): Record<string, ResponseObject> {
  const name = methodName(binding);
  const output = binding.method.output;
  const headersFor = (status: number): HeadersObject => {
    const headers = commonHeaders();
    for (const header of extras.responseHeaders.filter((one) => one.method === name && one.status === status)) {
      headers[header.header] = fieldHeader(output, header.field, registry);
    }
    return headers;
  };
  const entityTag = extras.entityTags.find((one) => one.method === name);
  const etag = entityTag === undefined ? {} : { ETag: entityTagHeader(output, entityTag.field) };
  const { description, content } = okResponseOf(binding, registry);
  const responses: Record<string, ResponseObject> = { "200": { description, headers: { ...headersFor(200), ...etag }, content } };
  if (entityTag !== undefined) {
    responses["304"] = {
      description: "Not Modified: `If-None-Match` names the current entity tag, so no body is sent; keep using the copy you have.",
      headers: { ...headersFor(304), ...etag },
    };
  }
  const noContent = extras.noContent.find((one) => one.method === name);
  if (noContent !== undefined) responses["204"] = { description: noContentDescription(output, noContent.path), headers: headersFor(204) };
  const unplaced = extras.responseHeaders.find((one) => one.method === name && responses[String(one.status)] === undefined);
  if (unplaced !== undefined)
    throw new Error(`response header ${unplaced.header} of ${name}: the method has no ${unplaced.status} response`);
  return Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)));
}

/** `If-None-Match` for a binding whose method has an entity tag; none otherwise. */
export function conditionalParametersOf(binding: RestBinding, extras: ResponseExtras): ParameterObject[] {
  const entityTag = extras.entityTags.find((one) => one.method === methodName(binding));
  if (entityTag === undefined) return [];
  return [
    {
      name: "If-None-Match",
      in: "header",
      description:
        "Entity tags from earlier `ETag` headers (comma-separated), or `*`. When one matches the current tag (weak comparison), the answer is `304 Not Modified` with no body.",
      schema: { type: "string" },
    },
  ];
}

function fieldHeader(output: DescMessage, path: string, registry: SchemaRegistry): HeaderObject {
  const fields = resolveFieldPath(output, path);
  const leaf = fields.at(-1) as DescField;
  if (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum")
    throw new Error(`response header field "${path}" is not a scalar or enum field`);
  const { description: _fieldComment, deprecated: _deprecated, ...schema } = registry.fieldSchema(leaf);
  const note = `Carries the response field \`${jsonPath(fields)}\`.`;
  return { description: joinParagraphs(registry.fieldDescription(leaf), note) ?? note, schema };
}

function entityTagHeader(output: DescMessage, path: string): HeaderObject {
  const fields = resolveFieldPath(output, path);
  return {
    description: `A weak entity tag (\`W/"…"\`) derived from the response field \`${jsonPath(fields)}\`. Send it back in \`If-None-Match\` to get \`304 Not Modified\` while it is unchanged.`,
    required: true,
    schema: { type: "string" },
  };
}

function noContentDescription(output: DescMessage, path: string): string {
  const steps = path.split(".");
  const last = steps.pop() as string;
  const parents = steps.length === 0 ? [] : resolveFieldPath(output, steps.join("."));
  const holder = parents.length === 0 ? output : parents.at(-1)?.message;
  const oneof: DescOneof | undefined = holder?.oneofs.find((candidate) => candidate.name === last);
  if (oneof === undefined) {
    const fields = resolveFieldPath(output, path);
    return `No Content: \`${jsonPath(fields)}\` is not set, so there is no body.`;
  }
  const prefix = parents.length === 0 ? "" : `${jsonPath(parents)}.`;
  const members = oneof.fields.map((field) => `\`${prefix}${field.jsonName}\``).join(", ");
  return `No Content: none of ${members} is set (oneof \`${oneof.name}\`), so there is no body.`;
}

function jsonPath(fields: readonly DescField[]): string {
  return fields.map((field) => field.jsonName).join(".");
}

/** The 200 response as the transcoder writes it. */
function okResponseOf(binding: RestBinding, registry: SchemaRegistry): { description: string; content: Record<string, MediaTypeObject> } {
  const output = binding.method.output;
  const schema = binding.responseBody === undefined ? registry.messageSchema(output) : registry.fieldSchema(binding.responseBody);
  const description = (binding.responseBody === undefined ? registry.commentOf(output) : schema.description) ?? "OK";
  if (binding.method.methodKind !== "server_streaming") return { description, content: { "application/json": { schema } } };
  const item = output.typeName;
  const sse = [
    `Server-Sent Events: each message of the stream is one frame whose \`data:\` is a \`${item}\` in JSON (a \`: keep-alive\` comment comes when the stream is idle).`,
    "A clean end is `event: complete` with `data: {}`; a failure after the first frame is `event: error` whose data is a `google.rpc.Status`; a failure before it is a plain error response.",
  ].join(" ");
  const ndjson = `Newline-delimited JSON, chosen with \`Accept: application/x-ndjson\`: one \`${item}\` per line; a failure after the first line ends the stream with a line \`{"error": <google.rpc.Status>}\`.`;
  const errorLine: SchemaObject = { type: "object", properties: { error: registry.statusSchema() }, required: ["error"] };
  return {
    description:
      joinParagraphs(description, "A stream of messages, as Server-Sent Events (the default) or newline-delimited JSON.") ?? description,
    content: {
      "text/event-stream": { schema: { type: "string", description: sse } },
      "application/x-ndjson": { schema: { oneOf: [schema, errorLine], description: ndjson } },
    },
  };
}
