/**
 * Reads every `google.api.http` rule (and its additional bindings) of the served
 * services into bindings whose field paths are already resolved against the request and
 * response messages. Everything an annotation can get wrong is found here, at start-up,
 * with the method and binding named: an unknown field, a path variable on a repeated or
 * message field, a nested additional binding, a streaming kind REST cannot carry. The
 * OpenAPI generator (src/openapi/) reads annotations through this same reader, via the
 * transcoder's entry, so the document and the server refuse the same mistakes.
 */
import { getOption, hasOption } from "@bufbuild/protobuf";
import type { DescField, DescMethod, DescService } from "@bufbuild/protobuf";
import { http } from "../../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../../gen/google/api/http_pb.js";
import { fieldPathName, resolveFieldPath } from "./field-path.js";
import { parsePathTemplate, type PathTemplate } from "./path-template.js";

/** A path variable bound to the request field it fills. */
export interface BoundVariable {
  /** From the request message down to the (scalar or enum) field. */
  readonly fields: readonly DescField[];
  readonly start: number;
  /** Undefined: up to the end of the path (the variable ends in `**`). */
  readonly end: number | undefined;
}

/** Where the request body goes: nowhere, the whole message (`*`), or one top-level field. */
export type BodyMapping = { readonly kind: "none" } | { readonly kind: "all" } | { readonly kind: "field"; readonly field: DescField };

/** One HTTP method + path template that reaches one RPC. */
export interface RestBinding {
  /** A unary or server-streaming method. */
  readonly method: DescMethod;
  /** 0 for the rule itself, 1, 2 … for its additional bindings in order. */
  readonly index: number;
  /** Upper-case HTTP method, or "*" for a custom binding that takes any. */
  readonly httpMethod: string;
  readonly template: PathTemplate;
  readonly variables: readonly BoundVariable[];
  readonly body: BodyMapping;
  /** The response field sent as the whole HTTP body (`response_body`), or undefined for the message. */
  readonly responseBody: DescField | undefined;
}

/** What a rule says, before its fields are resolved against a method. */
interface RuleSpec {
  readonly httpMethod: string;
  readonly path: string;
  readonly body: string;
  readonly responseBody: string;
}

/** Every binding of every annotated method; throws on the first annotation that cannot be served. */
export function readRestBindings(services: readonly DescService[]): RestBinding[] {
  const bindings: RestBinding[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      if (!hasOption(method, http)) continue;
      const rule = getOption(method, http);
      bindings.push(bindRule(method, rule, 0));
      for (const [index, additional] of rule.additionalBindings.entries()) {
        if (additional.additionalBindings.length > 0) {
          throw new Error(`${method.parent.typeName}.${method.name}: additional_bindings cannot nest further additional_bindings`);
        }
        bindings.push(bindRule(method, additional, index + 1));
      }
    }
  }
  return bindings;
}

/** The same HTTP method, template and body mapping, resolved against another method (a hook's alternative). */
export function rebindToMethod(binding: RestBinding, method: DescMethod): RestBinding {
  const body = binding.body.kind === "none" ? "" : binding.body.kind === "all" ? "*" : binding.body.field.name;
  return resolveBinding(method, binding.index, {
    httpMethod: binding.httpMethod,
    path: binding.template.source,
    body,
    responseBody: binding.responseBody?.name ?? "",
  });
}

/** "GET /v1/things/{id} (pkg.Service.Method)", for messages. */
export function describeBinding(binding: RestBinding): string {
  return `${binding.httpMethod} ${binding.template.source} (${binding.method.parent.typeName}.${binding.method.name})`;
}

function bindRule(method: DescMethod, rule: HttpRule, index: number): RestBinding {
  return resolveBinding(method, index, ruleSpec(method, rule));
}

function ruleSpec(method: DescMethod, rule: HttpRule): RuleSpec {
  const { pattern } = rule;
  const name = `${method.parent.typeName}.${method.name}`;
  switch (pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      return { httpMethod: pattern.case.toUpperCase(), path: pattern.value, body: rule.body, responseBody: rule.responseBody };
    case "custom":
      if (pattern.value.kind === "") throw new Error(`${name}: custom HTTP binding without a method (kind)`);
      return { httpMethod: pattern.value.kind.toUpperCase(), path: pattern.value.path, body: rule.body, responseBody: rule.responseBody };
    case undefined:
      throw new Error(`${name}: google.api.http rule without an HTTP method and path`);
  }
}

/** Resolves a rule's template, body and response body against `method`'s messages. */
function resolveBinding(method: DescMethod, index: number, spec: RuleSpec): RestBinding {
  const where = `${spec.httpMethod} ${spec.path} (${method.parent.typeName}.${method.name})`;
  try {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`a ${method.methodKind.replace("_", "-")} method cannot be served over REST`);
    }
    const template = parsePathTemplate(spec.path);
    const variables = template.variables.map((variable) => ({
      fields: resolveVariableField(method, variable.fieldPath.join(".")),
      start: variable.start,
      end: variable.end,
    }));
    return {
      method,
      index,
      httpMethod: spec.httpMethod,
      template,
      variables,
      body: resolveBody(method, spec.body),
      responseBody: spec.responseBody === "" ? undefined : resolveTopLevelField(method.output.fields, spec.responseBody, "response_body"),
    };
  } catch (error) {
    throw new Error(`HTTP binding ${where}: ${(error as Error).message}`, { cause: error });
  }
}

function resolveVariableField(method: DescMethod, path: string): DescField[] {
  const fields = resolveFieldPath(method.input, path);
  const leaf = fields[fields.length - 1];
  if (leaf === undefined || (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum")) {
    throw new Error(`path variable "${fieldPathName(fields)}" must name a singular scalar or enum field`);
  }
  return fields;
}

function resolveBody(method: DescMethod, body: string): BodyMapping {
  if (body === "") return { kind: "none" };
  if (body === "*") return { kind: "all" };
  return { kind: "field", field: resolveTopLevelField(method.input.fields, body, "body") };
}

function resolveTopLevelField(fields: readonly DescField[], name: string, option: string): DescField {
  const field = fields.find((candidate) => candidate.name === name);
  if (field === undefined) throw new Error(`${option} "${name}" is not a top-level field of the message`);
  return field;
}
