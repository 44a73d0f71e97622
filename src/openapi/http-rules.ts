/**
 * Reads the `google.api.http` rules of services into one binding per HTTP method and
 * path (the rule itself, then each additional binding), with their fields resolved
 * against the method's messages. Templates are parsed and field paths resolved by the
 * REST transcoder's own modules, so the document and the server read an annotation the
 * same way and refuse the same mistakes.
 *
 * The `google.api.http` extension is looked up among the services' imports rather than
 * imported from gen/: this code runs inside `buf generate`, which may have emptied gen/
 * (`clean: true`) before it starts, and it works on the plugin request's descriptors.
 */
import { getOption, hasOption } from "@bufbuild/protobuf";
import type { DescExtension, DescField, DescFile, DescMethod, DescService } from "@bufbuild/protobuf";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { resolveFieldPath } from "../http/transcoding/field-path.js";
import { parsePathTemplate, type PathTemplate } from "../http/transcoding/path-template.js";

/** The full name of the method option that holds an RPC's HttpRule. */
const httpExtensionName = "google.api.http";

/** Where a binding's request body goes. */
export type BodyTarget = { readonly kind: "none" } | { readonly kind: "all" } | { readonly kind: "field"; readonly field: DescField };

/** One HTTP method + path template that reaches one RPC. */
export interface HttpBinding {
  readonly method: DescMethod;
  /** 0 for the rule itself, 1, 2 … for its additional bindings in order. */
  readonly index: number;
  /** Upper-case, as annotated (`GET`, `POST`, or a custom method's kind). */
  readonly httpMethod: string;
  readonly template: PathTemplate;
  /** Each path variable's fields, from the request message down, in template order. */
  readonly variables: readonly (readonly DescField[])[];
  readonly body: BodyTarget;
  /** The response field sent as the whole body (`response_body`), or undefined. */
  readonly responseBody: DescField | undefined;
}

/** Every binding of every annotated method of `services`; throws on the first annotation that cannot be served. */
export function readHttpBindings(services: readonly DescService[]): HttpBinding[] {
  const bindings: HttpBinding[] = [];
  for (const service of services) {
    const extension = findHttpExtension(service.file);
    if (extension === undefined) continue; // the file does not import google/api/annotations.proto
    for (const method of service.methods) {
      if (!hasOption(method, extension)) continue;
      const rule = getOption(method, extension) as HttpRule;
      const rules = [rule, ...rule.additionalBindings];
      rules.forEach((each, index) => bindings.push(resolveBinding(method, each, index)));
    }
  }
  return bindings;
}

/** `GET /v1/things/{id} (pkg.Service.Method)`, for messages. */
export function describeBinding(binding: HttpBinding): string {
  return `${binding.httpMethod} ${binding.template.source} (${binding.method.parent.typeName}.${binding.method.name})`;
}

/** The extension among `file`'s imports, transitively; undefined when it imports no google/api/annotations.proto. */
function findHttpExtension(file: DescFile, visited = new Set<DescFile>()): DescExtension | undefined {
  if (visited.has(file)) return undefined;
  visited.add(file);
  const own = file.extensions.find((extension) => extension.typeName === httpExtensionName);
  if (own !== undefined) return own;
  for (const dependency of file.dependencies) {
    const found = findHttpExtension(dependency, visited);
    if (found !== undefined) return found;
  }
  return undefined;
}

function resolveBinding(method: DescMethod, rule: HttpRule, index: number): HttpBinding {
  const { httpMethod, path } = patternOf(method, rule);
  const where = `${httpMethod} ${path} (${method.parent.typeName}.${method.name})`;
  try {
    if (index > 0 && rule.additionalBindings.length > 0) throw new Error("additional_bindings cannot nest further additional_bindings");
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`a ${method.methodKind.replace("_", "-")} method cannot be served over REST`);
    }
    const template = parsePathTemplate(path);
    return {
      method,
      index,
      httpMethod,
      template,
      variables: template.variables.map((variable) => resolveVariable(method, variable.fieldPath.join("."))),
      body: rule.body === "" ? { kind: "none" } : rule.body === "*" ? { kind: "all" } : { kind: "field", field: topLevelField(method.input.fields, rule.body, "body") },
      responseBody: rule.responseBody === "" ? undefined : topLevelField(method.output.fields, rule.responseBody, "response_body"),
    };
  } catch (error) {
    throw new Error(`HTTP binding ${where}: ${(error as Error).message}`, { cause: error });
  }
}

function patternOf(method: DescMethod, rule: HttpRule): { httpMethod: string; path: string } {
  const { pattern } = rule;
  switch (pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      return { httpMethod: pattern.case.toUpperCase(), path: pattern.value };
    case "custom":
      return { httpMethod: pattern.value.kind.toUpperCase(), path: pattern.value.path };
    case undefined:
      throw new Error(`${method.parent.typeName}.${method.name}: google.api.http rule without an HTTP method and path`);
  }
}

/** As the transcoder requires: a path variable fills one singular scalar or enum field. */
function resolveVariable(method: DescMethod, path: string): DescField[] {
  const fields = resolveFieldPath(method.input, path);
  const leaf = fields.at(-1);
  if (leaf === undefined || (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum")) {
    throw new Error(`path variable "${path}" must name a singular scalar or enum field`);
  }
  return fields;
}

function topLevelField(fields: readonly DescField[], name: string, option: string): DescField {
  const field = fields.find((candidate) => candidate.name === name);
  if (field === undefined) throw new Error(`${option} "${name}" is not a top-level field of the message`);
  return field;
}
