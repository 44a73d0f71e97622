/**
 * The OpenAPI path and parameters of one binding, following how the transcoder reads a
 * request (src/http/transcoding/request-message.ts, query-parameters.ts):
 *
 * - Path: `{field.path}` variables keep their proto names (`{run_id}`), a `:verb` stays
 *   in the path as written. A multi-segment variable (`{name=shelves/*}`) is one
 *   parameter `{name}` whose description and pattern give its segments; OpenAPI has no
 *   form for its slashes, which must reach the server unencoded. Unnamed `*` and `**`
 *   become parameters `{_segmentN}` and `{_rest}` that set no field.
 * - Query: every field that neither the path nor the body sets, by JSON name, nested
 *   messages flattened with dots (`filter.workflow`), recursion cut where a message would
 *   contain itself; repeated fields as `?tags=a&tags=b` (form, exploded); maps as
 *   `labels[key]=value` (deepObject; the server also reads `labels.key=value`). Repeated
 *   and map fields of messages have no query form and are left out, as the transcoder
 *   refuses them. With `body: "*"` there are no query parameters.
 * - Headers: only those the app says fill a field (HeaderField); the transcoder itself
 *   maps none, so the descriptors cannot tell.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import {
  hasTextForm,
  resolveFieldPath,
  valueTypeOf,
  type RestBinding,
  type TemplateSegment,
  type ValueType,
} from "../http/transcoding/index.js";
import { scalarSchema, valueSchema, type SchemaRegistry } from "./json-schemas.js";
import type { ParameterObject, SchemaObject } from "./openapi-types.js";
import { joinParagraphs } from "./proto-comments.js";

/** A binding's OpenAPI path and its path parameters, in template order. */
export interface OpenApiPath {
  readonly path: string;
  readonly parameters: ParameterObject[];
}

/** The OpenAPI form of the binding's template. */
export function openApiPathOf(binding: RestBinding, registry: SchemaRegistry): OpenApiPath {
  const { segments, variables, verb } = binding.template;
  const parts: string[] = [];
  const parameters: ParameterObject[] = [];
  let unnamed = 0;
  for (let index = 0; index < segments.length;) {
    const variableIndex = variables.findIndex((variable) => variable.start === index);
    const variable = variables[variableIndex];
    if (variable !== undefined) {
      const end = variable.end ?? segments.length;
      const name = variable.fieldPath.join(".");
      parts.push(`{${name}}`);
      parameters.push(variableParameter(name, binding.variables[variableIndex]?.fields ?? [], segments.slice(index, end), registry));
      index = end;
      continue;
    }
    const segment = segments[index] as TemplateSegment;
    if (segment.kind === "literal") parts.push(encodeURIComponent(segment.value));
    else parameters.push(unnamedParameter(segment.kind === "wildcard" ? `_segment${++unnamed}` : "_rest", segment, parts));
    index += 1;
  }
  return { path: `/${parts.join("/")}${verb === undefined ? "" : `:${verb}`}`, parameters };
}

/** A parameter for a `{field.path}` or `{field.path=segments}` variable. */
function variableParameter(
  name: string,
  fields: readonly DescField[],
  segments: readonly TemplateSegment[],
  registry: SchemaRegistry,
): ParameterObject {
  const leaf = fields.at(-1);
  if (leaf === undefined) throw new Error(`path variable "${name}" names no field`);
  const isSingleSegment = segments.length === 1 && segments[0]?.kind === "wildcard";
  const flags = { required: true, deprecated: leaf.deprecated };
  if (isSingleSegment) return parameterFor(name, "path", registry.fieldSchema(leaf), flags);
  const shape = segments.map(segmentText).join("/");
  const note = `Matches \`${shape}\`; its slashes go in the URL as they are, not percent-encoded.`;
  const pattern = `^${segments.map(segmentPattern).join("/")}$`;
  return parameterFor(
    name,
    "path",
    { type: "string", pattern, description: joinParagraphs(registry.fieldDescription(leaf), note) ?? note },
    flags,
  );
}

function unnamedParameter(name: string, segment: TemplateSegment, parts: string[]): ParameterObject {
  parts.push(`{${name}}`);
  const description =
    segment.kind === "wildcard"
      ? "Any one path segment; sets no request field."
      : "The rest of the path, slashes included (not percent-encoded); sets no request field.";
  return { name, in: "path", required: true, description, schema: { type: "string" } };
}

function segmentText(segment: TemplateSegment): string {
  return segment.kind === "literal" ? segment.value : segment.kind === "wildcard" ? "*" : "**";
}

function segmentPattern(segment: TemplateSegment): string {
  if (segment.kind === "literal") return segment.value.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  return segment.kind === "wildcard" ? "[^/]+" : ".*";
}

/** A request header that fills a request field, as an app's REST hook makes it (`Idempotency-Key` → `idempotency_key`). */
export interface HeaderField {
  /** The method's full name, `package.Service.Method`. */
  readonly method: string;
  /** The header's name as callers write it, e.g. `Idempotency-Key`. */
  readonly header: string;
  /** The request field it fills: proto names, dotted for nested fields; a scalar or an enum. */
  readonly field: string;
}

/** Header parameters for the binding's method, typed and described by the fields they fill. */
export function headerParametersOf(binding: RestBinding, headers: readonly HeaderField[], registry: SchemaRegistry): ParameterObject[] {
  const { method } = binding;
  return headers
    .filter((header) => header.method === `${method.parent.typeName}.${method.name}`)
    .map((header) => {
      const fields = resolveFieldPath(method.input, header.field);
      const leaf = fields.at(-1) as DescField;
      if (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum")
        throw new Error(`header ${header.header} of ${header.method}: "${header.field}" is not a scalar or enum field`);
      const note = `Sets the request field \`${fields.map((field) => field.jsonName).join(".")}\`.`;
      return parameterFor(
        header.header,
        "header",
        { ...registry.fieldSchema(leaf), description: joinParagraphs(registry.fieldDescription(leaf), note) ?? note },
        { deprecated: leaf.deprecated },
      );
    });
}

/** The query parameters of a binding: every field that neither its path nor its body sets. */
export function queryParametersOf(binding: RestBinding, registry: SchemaRegistry): ParameterObject[] {
  if (binding.body.kind === "all") return [];
  const parameters: ParameterObject[] = [];
  const isReserved = (path: readonly DescField[]): boolean =>
    (binding.body.kind === "field" && path[0] === binding.body.field) ||
    binding.variables.some((variable) => sameFields(variable.fields, path));
  const visit = (message: DescMessage, prefix: readonly DescField[], enclosing: ReadonlySet<string>): void => {
    for (const field of message.fields) {
      const path = [...prefix, field];
      if (isReserved(path)) continue;
      const parameter = queryParameter(path, registry);
      if (parameter !== undefined) parameters.push(parameter);
      else if (field.fieldKind === "message" && !hasTextForm(valueTypeOf(field)) && !enclosing.has(field.message.typeName)) {
        visit(field.message, path, new Set([...enclosing, field.message.typeName]));
      }
    }
  };
  visit(binding.method.input, [], new Set([binding.method.input.typeName]));
  return parameters;
}

/** The parameter for the last field of `path`, or undefined when it has no query form of its own. */
function queryParameter(path: readonly DescField[], registry: SchemaRegistry): ParameterObject | undefined {
  const field = path.at(-1) as DescField;
  const type = valueTypeOf(field);
  if (!hasTextForm(type)) return undefined;
  const name = path.map((step) => step.jsonName).join(".");
  const comment = registry.fieldDescription(field);
  const value = queryValueSchema(type, registry);
  switch (field.fieldKind) {
    case "list":
      return parameterFor(name, "query", withDescription({ type: "array", items: value }, comment), {
        style: "form",
        explode: true,
        deprecated: field.deprecated,
      });
    case "map": {
      const note = `Sent as \`${name}[key]=value\` (the server also reads \`${name}.key=value\`).`;
      const schema = withDescription({ type: "object", additionalProperties: value }, joinParagraphs(comment, note));
      return parameterFor(name, "query", schema, { style: "deepObject", explode: true, deprecated: field.deprecated });
    }
    default:
      return parameterFor(name, "query", withDescription(value, joinParagraphs(comment, value.description)), {
        deprecated: field.deprecated,
      });
  }
}

/** One value as query text takes it: wrappers as their scalar, Value, Struct and ListValue as JSON text. */
function queryValueSchema(type: ValueType, registry: SchemaRegistry): SchemaObject {
  if (type.kind === "message" && isWrapperDesc(type.desc)) return scalarSchema(type.desc.fields[0].scalar);
  if (type.kind === "message" && jsonTextTypes.includes(type.desc.typeName)) return { type: "string", description: "JSON text." };
  return valueSchema(registry, type);
}

/** Messages whose query text is JSON. */
const jsonTextTypes = ["google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"];

interface ParameterFlags {
  readonly required?: boolean;
  readonly deprecated?: boolean;
  readonly style?: ParameterObject["style"];
  readonly explode?: boolean;
}

/** A parameter whose description is taken off its schema, where OpenAPI tools show it. */
function parameterFor(name: string, location: ParameterObject["in"], schema: SchemaObject, flags: ParameterFlags): ParameterObject {
  const { description, deprecated: _deprecated, ...rest } = schema;
  return {
    name,
    in: location,
    ...(description === undefined ? {} : { description }),
    ...(flags.required === true ? { required: true } : {}),
    ...(flags.deprecated === true ? { deprecated: true } : {}),
    ...(flags.style === undefined ? {} : { style: flags.style }),
    ...(flags.explode === undefined ? {} : { explode: flags.explode }),
    schema: rest,
  };
}

function withDescription(schema: SchemaObject, description: string | undefined): SchemaObject {
  return description === undefined ? schema : { ...schema, description };
}

function sameFields(a: readonly DescField[], b: readonly DescField[]): boolean {
  return a.length === b.length && a.every((field, index) => field === b[index]);
}
