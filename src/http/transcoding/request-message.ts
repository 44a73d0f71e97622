/**
 * Builds an RPC's request message from the three places a REST request carries fields,
 * in this order, each later one winning (as in vanguard-go and grpc-gateway):
 * 1. the body, by proto3 JSON rules (lowerCamel and proto names, unknown fields refused,
 *    duplicate keys refused): the whole message for `body: "*"` (an empty body is `{}`),
 *    one top-level field for `body: "field"`; a binding without `body` refuses a body;
 * 2. the path variables, single-segment ones fully percent-decoded, multi-segment ones
 *    (`{name=shelves/*}`, `{path=**}`) with `%2F` kept encoded (google/api/http.proto);
 * 3. the query string (query-parameters.ts), which may not set a field the path or the
 *    body sets; with `body: "*"` every field comes from the body, so no parameter is mapped.
 */
import { create, fromJsonString } from "@bufbuild/protobuf";
import type { DescField, Message, Registry } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { assignText } from "./field-assignment.js";
import { fieldJsonPath, fieldPathName } from "./field-path.js";
import type { BoundVariable, RestBinding } from "./http-bindings.js";
import { applyQueryParameters } from "./query-parameters.js";
import { findJsonFault, jsonFaultMessage } from "./json-faults.js";
import { malformedField, malformedRequest } from "./rest-errors.js";

/** The parts of an HTTP request that carry request fields. */
export interface RequestParts {
  /** Raw path segments as matched by the route trie (verb removed). */
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
  /** The body as text, "" when empty; its Content-Type was already checked. */
  readonly bodyText: string;
}

/** What the mapping needs beyond the request. */
export interface RequestMappingOptions {
  /** Resolves google.protobuf.Any in bodies. */
  readonly registry: Registry;
  /** Ignore query parameters that name no field (default: refuse them). */
  readonly allowUnknownQueryParameters: boolean;
}

/** The request message for `binding`; throws INVALID_ARGUMENT naming what is malformed. */
export function buildRequestMessage(binding: RestBinding, parts: RequestParts, options: RequestMappingOptions): ReflectMessage {
  const message = reflect(binding.method.input, parseBody(binding, parts.bodyText, options.registry));
  for (const variable of binding.variables) {
    const source = { label: `path variable "${fieldPathName(variable.fields)}"`, field: fieldJsonPath(variable.fields) };
    assignText(message, variable.fields, [captureVariable(variable, parts.segments, source.label)], source);
  }
  applyQueryParameters(message, parts.query, {
    allowUnknown: options.allowUnknownQueryParameters,
    reservedBy: (fields) => reservedBy(binding, fields),
  });
  return message;
}

/** True when the binding reads a request body, so the body's Content-Type matters. */
export function takesBody(binding: RestBinding): boolean {
  return binding.body.kind !== "none";
}

function parseBody(binding: RestBinding, bodyText: string, registry: Registry): Message {
  const schema = binding.method.input;
  const isEmpty = bodyText.trim() === "";
  if (binding.body.kind === "none") {
    if (!isEmpty) throw malformedRequest(`${binding.httpMethod} ${binding.template.source} takes no request body`);
    return create(schema);
  }
  if (isEmpty) return create(schema);
  // For `body: "field"` the body is that field's JSON value: wrap it as the field's member
  // of the request, after checking it is one JSON value so the wrapping cannot be escaped.
  const json =
    binding.body.kind === "all"
      ? bodyText
      : `{${JSON.stringify(binding.body.field.jsonName)}:${checkedJson(bodyText, binding.body.field)}}`;
  const surrogate = /\\u[dD][89a-fA-F]/.test(json) ? unpairedSurrogatePath(JSON.parse(json) as unknown, "") : undefined;
  if (surrogate !== undefined) {
    // The binary hop to the handler would turn it into U+FFFD, silently; refused here,
    // as the request check refuses it on Connect JSON (api/request-validation.ts).
    throw malformedField(
      surrogate,
      `${surrogate || "the body"}: must not contain an unpaired UTF-16 surrogate`,
      "must not contain an unpaired UTF-16 surrogate",
    );
  }
  try {
    // A little over protobuf-es's 100, for the messages around a JSON value (the request,
    // a template): a value nested up to 100 deep decodes, to be refused by the request
    // check naming its field (request-validation.ts); one deeper, by findJsonFault.
    return fromJsonString(schema, json, { registry, recursionLimit: 110 });
  } catch (error) {
    const fault = findJsonFault(schema, json, error, registry);
    throw malformedField(fault.field, jsonFaultMessage(fault), fault.description);
  }
}

/** The JSON path of the first string or key holding half a surrogate pair, or undefined. */
function unpairedSurrogatePath(json: unknown, path: string): string | undefined {
  if (typeof json === "string") return json.isWellFormed() ? undefined : path;
  if (Array.isArray(json)) {
    for (const [index, item] of json.entries()) {
      const found = unpairedSurrogatePath(item, `${path}[${index}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof json === "object" && json !== null) {
    for (const [key, value] of Object.entries(json)) {
      const member = path === "" ? key : `${path}.${key}`;
      if (!key.isWellFormed()) return member;
      const found = unpairedSurrogatePath(value, member);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** `text` when it is one JSON value; else INVALID_ARGUMENT naming the body's field. */
function checkedJson(text: string, field: DescField): string {
  try {
    JSON.parse(text);
    return text;
  } catch (error) {
    const fault = { field: field.jsonName, description: (error as Error).message };
    throw malformedField(fault.field, `invalid JSON body: ${fault.description}`, fault.description);
  }
}

/** The variable's segments, decoded as google/api/http.proto says for single and multi-segment variables. */
function captureVariable(variable: BoundVariable, segments: readonly string[], label: string): string {
  const captured = segments.slice(variable.start, variable.end ?? segments.length);
  const isSingleSegment = variable.end !== undefined && variable.end - variable.start === 1;
  try {
    return isSingleSegment
      ? decodeURIComponent(captured[0] ?? "")
      : captured.map((segment) => decodeURIComponent(segment.replace(/%2f/gi, "%252F"))).join("/");
  } catch {
    throw malformedField(fieldJsonPath(variable.fields), `${label}: invalid percent-encoding in "${captured.join("/")}"`);
  }
}

/** Why a field cannot come from the query, or undefined when it can. */
function reservedBy(binding: RestBinding, fields: readonly DescField[]): string | undefined {
  if (binding.body.kind === "all") return 'comes from the request body (body: "*")';
  if (binding.body.kind === "field" && fields[0] === binding.body.field)
    return `comes from the request body (body: "${binding.body.field.name}")`;
  const samePath = (variable: BoundVariable): boolean =>
    variable.fields.length === fields.length && variable.fields.every((field, index) => field === fields[index]);
  return binding.variables.some(samePath) ? "comes from the URL path" : undefined;
}
