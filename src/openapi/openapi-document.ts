/**
 * Builds an OpenAPI 3.1 document from services annotated with `google.api.http`: one
 * operation per HTTP binding, described from the proto comments, with the request and
 * response schemas of the proto3 JSON mapping (json-schemas.ts) and the parameters the
 * REST transcoder reads (request-parameters.ts). Descriptors in, a plain JSON object out:
 * no I/O and nothing specific to any one API, so the same code serves a protoc plugin
 * (protoc-gen-openapi.ts) and tests that feed it descriptors directly.
 *
 * Conventions where the annotations say nothing, after grpc-gateway and gnostic:
 * operationId `Service_Method` (`_2`, `_3` … for additional bindings), one tag per
 * service, errors as a `default` response with a google.rpc.Status body, server streams
 * as `text/event-stream` and `application/x-ndjson` (the two framings the transcoder
 * offers), and HTTP bearer authentication required on every operation.
 */
import type { DescField, DescService } from "@bufbuild/protobuf";
import { describeBinding, readRestBindings, type RestBinding } from "../http/transcoding/index.js";
import { createSchemaRegistry, type SchemaRegistry } from "./json-schemas.js";
import type {
  MediaTypeObject,
  OpenApiDocument,
  OperationObject,
  ParameterObject,
  PathItemMethod,
  PathItemObject,
  RequestBodyObject,
  ResponseObject,
  SchemaObject,
} from "./openapi-types.js";
import { commentOf, firstSentence, joinParagraphs } from "./proto-comments.js";
import { headerParametersOf, openApiPathOf, queryParametersOf, type HeaderField } from "./request-parameters.js";

/** What to describe and how to title it; every optional field says its default. */
export interface OpenApiDocumentOptions {
  /** The services to describe; methods without a `google.api.http` rule are left out. */
  readonly services: readonly DescService[];
  /** `info.title`. */
  readonly title: string;
  /** `info.version`, the version of the API (not of this generator). */
  readonly version: string;
  /** `info.description`. Default: none. */
  readonly description?: string | undefined;
  /**
   * HTTP bearer authentication (`components.securitySchemes.bearerAuth`), required by
   * every operation; its description tells callers what the token is. false: no
   * security at all. Default: declared, with a description that names no product.
   */
  readonly bearerAuth?: { readonly description: string } | false | undefined;
  /**
   * Request headers that the app's REST hooks copy into request fields; each becomes a
   * header parameter of its method's operations. Default: none.
   */
  readonly headerFields?: readonly HeaderField[] | undefined;
}

/** The document, and what could not be put in it. */
export interface OpenApiBuild {
  readonly document: OpenApiDocument;
  /** Bindings left out because OpenAPI 3.1 cannot express them (custom HTTP methods such as REPORT). */
  readonly warnings: readonly string[];
}

const pathItemMethods = new Set<string>(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const errorResponseName = "Error";
const defaultBearerDescription = "An API key, sent as `Authorization: Bearer <key>`.";

/** Builds the document; throws when an annotation cannot be served or two bindings collide. */
export function buildOpenApiDocument(options: OpenApiDocumentOptions): OpenApiBuild {
  const registry = createSchemaRegistry();
  const paths: Record<string, PathItemObject> = {};
  const operationIds = new Set<string>();
  const routes = new Map<string, string>();
  const warnings: string[] = [];
  const describedServices = new Set<DescService>();
  for (const binding of readRestBindings(options.services)) {
    const httpMethod = binding.httpMethod.toLowerCase();
    if (!pathItemMethods.has(httpMethod)) {
      warnings.push(`${describeBinding(binding)}: left out, OpenAPI 3.1 has no operations for the HTTP method ${binding.httpMethod}`);
      continue;
    }
    const { path, parameters } = openApiPathOf(binding, registry);
    const headers = headerParametersOf(binding, options.headerFields ?? [], registry);
    const operation = operationOf(binding, [...parameters, ...headers, ...queryParametersOf(binding, registry)], registry);
    // Paths that differ only in variable names are one path to OpenAPI, as to the router.
    const route = `${binding.httpMethod} ${path.replace(/\{[^}]*\}/g, "{}")}`;
    const taken = routes.get(route);
    if (taken !== undefined) throw new Error(`${describeBinding(binding)}: ${binding.httpMethod} ${path} is already bound to ${taken}`);
    if (operationIds.has(operation.operationId))
      throw new Error(
        `${describeBinding(binding)}: operationId ${operation.operationId} is taken; services in different packages share a name`,
      );
    routes.set(route, operation.operationId);
    operationIds.add(operation.operationId);
    (paths[path] ??= {})[httpMethod as PathItemMethod] = operation;
    describedServices.add(binding.method.parent);
  }
  checkHeaderFields(options.headerFields ?? [], describedServices);
  return { document: assembleDocument(options, paths, registry, [...describedServices]), warnings };
}

/** A header naming a method that is not described is a typo: say so rather than drop it. */
function checkHeaderFields(headers: readonly HeaderField[], services: ReadonlySet<DescService>): void {
  const methods = new Set([...services].flatMap((service) => service.methods.map((method) => `${service.typeName}.${method.name}`)));
  const unknown = headers.find((header) => !methods.has(header.method));
  if (unknown !== undefined) throw new Error(`header ${unknown.header}: ${unknown.method} is not a described method`);
}

function assembleDocument(
  options: OpenApiDocumentOptions,
  paths: Record<string, PathItemObject>,
  registry: SchemaRegistry,
  services: readonly DescService[],
): OpenApiDocument {
  const errorResponse: ResponseObject = {
    description:
      "An error: google.rpc.Status JSON. The HTTP status follows the gRPC code (INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS 409 …).",
    content: { "application/json": { schema: registry.statusSchema() } },
  };
  const info: OpenApiDocument["info"] = { title: options.title, version: options.version };
  if (options.description !== undefined) info.description = options.description;
  const document: OpenApiDocument = {
    openapi: "3.1.0",
    info,
    tags: services.map((service) => withOptional({ name: service.name }, "description", commentOf(service))),
    paths,
    components: { schemas: registry.components(), responses: { [errorResponseName]: errorResponse } },
  };
  if (options.bearerAuth !== false) {
    const description = options.bearerAuth?.description ?? defaultBearerDescription;
    document.components.securitySchemes = { bearerAuth: { type: "http", scheme: "bearer", description } };
    document.security = [{ bearerAuth: [] }];
  }
  return document;
}

function operationOf(binding: RestBinding, parameters: ParameterObject[], registry: SchemaRegistry): OperationObject {
  const { method } = binding;
  const comment = commentOf(method);
  const body = requestBodyOf(binding, registry);
  const suffix = binding.index === 0 ? "" : `_${binding.index + 1}`;
  // In the order people read an operation: what it is, what goes in, what comes out.
  return {
    operationId: `${method.parent.name}_${method.name}${suffix}`,
    tags: [method.parent.name],
    ...(comment === undefined ? {} : { summary: firstSentence(comment), description: comment }),
    ...(method.deprecated ? { deprecated: true } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body === undefined ? {} : { requestBody: body }),
    responses: { "200": successResponseOf(binding, registry), default: { $ref: `#/components/responses/${errorResponseName}` } },
  };
}

/**
 * `body: "*"`: the request message, less the fields the path sets (an inline schema
 * then). `body: "field"`: that field's schema. Never required: an empty body reads as `{}`.
 */
function requestBodyOf(binding: RestBinding, registry: SchemaRegistry): RequestBodyObject | undefined {
  const input = binding.method.input;
  switch (binding.body.kind) {
    case "none":
      return undefined;
    case "all": {
      const inPath = new Set(binding.variables.filter(({ fields }) => fields.length === 1).map(({ fields }) => fields[0] as DescField));
      const schema: SchemaObject =
        inPath.size === 0 ? registry.messageSchema(input) : { type: "object", properties: registry.propertiesOf(input, inPath) };
      return withOptional({ content: json(schema) }, "description", commentOf(input));
    }
    case "field": {
      const { description, ...schema } = registry.fieldSchema(binding.body.field);
      return withOptional({ content: json(schema) }, "description", description);
    }
  }
}

function successResponseOf(binding: RestBinding, registry: SchemaRegistry): ResponseObject {
  const output = binding.method.output;
  const schema = binding.responseBody === undefined ? registry.messageSchema(output) : registry.fieldSchema(binding.responseBody);
  const description = (binding.responseBody === undefined ? commentOf(output) : schema.description) ?? "OK";
  if (binding.method.methodKind !== "server_streaming") return { description, content: json(schema) };
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

function json(schema: SchemaObject): Record<string, MediaTypeObject> {
  return { "application/json": { schema } };
}

/** `object` with `key` set when `value` is defined (exactOptionalPropertyTypes forbids writing undefined). */
function withOptional<T extends object, K extends string>(object: T, key: K, value: string | undefined): T & Partial<Record<K, string>> {
  return value === undefined ? object : { ...object, [key]: value };
}
