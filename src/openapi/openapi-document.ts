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
 * service, server streams as `text/event-stream` and `application/x-ndjson` (the two
 * framings the transcoder offers), and HTTP bearer authentication required on every
 * operation. Errors are google.rpc.Status bodies, one response per HTTP status the
 * operation can answer (error-responses.ts) and `default` for any other. What the app's
 * REST hooks add (headers, 204, 304, which errors each method gives) comes in options.
 * Paths that differ only in variable names are one path to OpenAPI: the later
 * operations take the first one's template, their parameters renamed to match.
 */
import type { DescField, DescService } from "@bufbuild/protobuf";
import { acceptsQueryCredential, describeBinding, readRestBindings, type RestBinding } from "../http/transcoding/index.js";
import { codesOf, errorResponseComponents, errorResponsesOf, otherErrorsName, type ErrorCodes } from "./error-responses.js";
import { createSchemaRegistry, type SchemaRegistry } from "./json-schemas.js";
import type {
  LicenseObject,
  MediaTypeObject,
  OpenApiDocument,
  OperationObject,
  ParameterObject,
  PathItemMethod,
  PathItemObject,
  RequestBodyObject,
  SchemaObject,
  ServerObject,
} from "./openapi-types.js";
import { firstSentence, joinParagraphs, jsonNamesOf } from "./proto-comments.js";
import { headerParametersOf, openApiPathOf, queryParametersOf, type HeaderField } from "./request-parameters.js";
import {
  commonHeaders,
  conditionalParametersOf,
  requestIdHeader,
  requestIdHeaderName,
  successResponsesOf,
  type EntityTagField,
  type NoContentField,
  type ResponseExtras,
  type ResponseHeaderField,
} from "./success-responses.js";

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
  /** `info.license`. Default: none. */
  readonly license?: LicenseObject | undefined;
  /** `servers`; a relative URL is relative to where the document is fetched from. Default: none. */
  readonly servers?: readonly ServerObject[] | undefined;
  /**
   * HTTP bearer authentication (`components.securitySchemes.bearerAuth`), required by
   * every operation; its description tells callers what the token is. false: no
   * security at all. Default: declared, with a description that names no product.
   */
  readonly bearerAuth?: { readonly description: string } | false | undefined;
  /**
   * A query parameter that carries the bearer token on GET routes of server-streaming
   * methods (the transcoder's `queryCredential`), declared as the `queryToken` scheme and
   * offered beside bearerAuth on those operations. Default: none.
   */
  readonly queryCredential?: string | undefined;
  /**
   * Request headers that the app's REST hooks copy into request fields; each becomes a
   * header parameter of its method's operations. Default: none.
   */
  readonly headerFields?: readonly HeaderField[] | undefined;
  /** gRPC codes methods can end with, beyond those every operation can (error-responses.ts). Default: none. */
  readonly errorCodes?: readonly ErrorCodes[] | undefined;
  /** Response headers that the app's REST hooks fill from response fields. Default: none. */
  readonly responseHeaders?: readonly ResponseHeaderField[] | undefined;
  /** Methods whose REST hooks send an `ETag` and answer `If-None-Match` with 304. Default: none. */
  readonly entityTags?: readonly EntityTagField[] | undefined;
  /** Methods whose REST hooks answer 204 when part of the response is unset. Default: none. */
  readonly noContent?: readonly NoContentField[] | undefined;
}

/** The document, and what could not be put in it. */
export interface OpenApiBuild {
  readonly document: OpenApiDocument;
  /** Bindings left out because OpenAPI 3.1 cannot express them (custom HTTP methods such as REPORT). */
  readonly warnings: readonly string[];
}

const pathItemMethods = new Set<string>(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const defaultBearerDescription = "An API key, sent as `Authorization: Bearer <key>`.";
const queryTokenScheme = "queryToken";

/** Builds the document; throws when an annotation cannot be served or two bindings collide. */
export function buildOpenApiDocument(options: OpenApiDocumentOptions): OpenApiBuild {
  const registry = createSchemaRegistry(jsonNamesOf(options.services.map((service) => service.file)));
  const paths: Record<string, PathItemObject> = {};
  const operationIds = new Set<string>();
  const routes = new Map<string, string>();
  /** The first template seen for each path shape (`/a/{}/b`). */
  const templates = new Map<string, string>();
  const warnings: string[] = [];
  const describedServices = new Set<DescService>();
  const extras: ResponseExtras = {
    responseHeaders: options.responseHeaders ?? [],
    entityTags: options.entityTags ?? [],
    noContent: options.noContent ?? [],
  };
  for (const binding of readRestBindings(options.services)) {
    const httpMethod = binding.httpMethod.toLowerCase();
    if (!pathItemMethods.has(httpMethod)) {
      warnings.push(`${describeBinding(binding)}: left out, OpenAPI 3.1 has no operations for the HTTP method ${binding.httpMethod}`);
      continue;
    }
    const own = openApiPathOf(binding, registry);
    // Paths that differ only in variable names are one path to OpenAPI, as to the router.
    const shape = own.path.replace(/\{[^}]*\}/g, "{}");
    const path = templates.get(shape) ?? own.path;
    templates.set(shape, path);
    const parameters = [
      ...renamePathParameters(binding, own.parameters, path),
      ...headerParametersOf(binding, options.headerFields ?? [], registry),
      ...conditionalParametersOf(binding, extras),
      ...queryParametersOf(binding, registry),
    ];
    const operation = operationOf(binding, parameters, registry, extras, options);
    const route = `${binding.httpMethod} ${shape}`;
    const taken = routes.get(route);
    if (taken !== undefined) throw new Error(`${describeBinding(binding)}: ${binding.httpMethod} ${own.path} is already bound to ${taken}`);
    if (operationIds.has(operation.operationId))
      throw new Error(
        `${describeBinding(binding)}: operationId ${operation.operationId} is taken; services in different packages share a name`,
      );
    routes.set(route, operation.operationId);
    operationIds.add(operation.operationId);
    (paths[path] ??= {})[httpMethod as PathItemMethod] = operation;
    describedServices.add(binding.method.parent);
  }
  checkMethodNames(options, describedServices);
  return { document: assembleDocument(options, paths, registry, [...describedServices]), warnings };
}

/**
 * The path parameters of `binding` renamed to the variable names of `template` (a path
 * of the same shape, taken by an earlier binding), each renamed one saying which field
 * it sets.
 */
function renamePathParameters(binding: RestBinding, parameters: readonly ParameterObject[], template: string): ParameterObject[] {
  const names = [...template.matchAll(/\{([^}]*)\}/g)].map((match) => match[1] as string);
  let index = 0;
  return parameters.map((parameter) => {
    if (parameter.in !== "path") return parameter;
    const name = names[index++] as string;
    if (name === parameter.name) return parameter;
    const variable = binding.variables.find((candidate) => candidate.fields.map((field) => field.name).join(".") === parameter.name);
    const field = variable === undefined ? parameter.name : variable.fields.map((step) => step.jsonName).join(".");
    const note = `Sets the request field \`${field}\`.`;
    return { ...parameter, name, description: joinParagraphs(parameter.description, note) ?? note };
  });
}

/** An option naming a method or service that is not described is a typo: say so rather than drop it. */
function checkMethodNames(options: OpenApiDocumentOptions, services: ReadonlySet<DescService>): void {
  const methods = new Set([...services].flatMap((service) => service.methods.map((method) => `${service.typeName}.${method.name}`)));
  const named = [
    ...(options.headerFields ?? []).map((one) => ({ what: `header ${one.header}`, method: one.method })),
    ...(options.responseHeaders ?? []).map((one) => ({ what: `response header ${one.header}`, method: one.method })),
    ...(options.entityTags ?? []).map((one) => ({ what: "entity tag", method: one.method })),
    ...(options.noContent ?? []).map((one) => ({ what: "no content", method: one.method })),
  ];
  const unknown = named.find((one) => !methods.has(one.method));
  if (unknown !== undefined) throw new Error(`${unknown.what}: ${unknown.method} is not a described method`);
  const selectors = new Set(["*", ...[...services].map((service) => service.typeName), ...methods]);
  const unknownSelector = (options.errorCodes ?? []).find((one) => !selectors.has(one.selector));
  if (unknownSelector !== undefined) throw new Error(`errors: ${unknownSelector.selector} is not a described service or method`);
}

function assembleDocument(
  options: OpenApiDocumentOptions,
  paths: Record<string, PathItemObject>,
  registry: SchemaRegistry,
  services: readonly DescService[],
): OpenApiDocument {
  const info: OpenApiDocument["info"] = { title: options.title, version: options.version };
  if (options.description !== undefined) info.description = options.description;
  if (options.license !== undefined) info.license = options.license;
  const errorStatuses = new Set(
    Object.values(paths)
      .flatMap((item) => Object.values(item))
      .flatMap((operation) => Object.keys(operation.responses))
      .map(Number)
      .filter((status) => status >= 400),
  );
  const responses = errorResponseComponents(errorStatuses, registry.statusSchema(), commonHeaders());
  const document: OpenApiDocument = {
    openapi: "3.1.0",
    info,
    ...(options.servers === undefined ? {} : { servers: [...options.servers] }),
    tags: services.map((service) => withOptional({ name: service.name }, "description", registry.commentOf(service))),
    paths,
    components: { schemas: registry.components(), responses, headers: { [requestIdHeaderName]: requestIdHeader() } },
  };
  if (options.bearerAuth !== false) {
    const description = options.bearerAuth?.description ?? defaultBearerDescription;
    document.components.securitySchemes = { bearerAuth: { type: "http", scheme: "bearer", description } };
    document.security = [{ bearerAuth: [] }];
    if (options.queryCredential !== undefined) {
      document.components.securitySchemes[queryTokenScheme] = {
        type: "apiKey",
        in: "query",
        name: options.queryCredential,
        description: `The bearer token as the query parameter \`${options.queryCredential}\`, for clients that cannot send headers (a browser's EventSource): GET routes of server streams only, never with an Authorization header.`,
      };
    }
  }
  return document;
}

function operationOf(
  binding: RestBinding,
  parameters: ParameterObject[],
  registry: SchemaRegistry,
  extras: ResponseExtras,
  options: OpenApiDocumentOptions,
): OperationObject {
  const { method } = binding;
  const comment = registry.commentOf(method);
  const body = requestBodyOf(binding, registry);
  const suffix = binding.index === 0 ? "" : `_${binding.index + 1}`;
  const codes = codesOf(method, options.errorCodes ?? [], options.bearerAuth !== false);
  const queryToken = options.bearerAuth !== false && options.queryCredential !== undefined && acceptsQueryCredential(binding);
  // In the order people read an operation: what it is, what goes in, what comes out.
  return {
    operationId: `${method.parent.name}_${method.name}${suffix}`,
    tags: [method.parent.name],
    ...(comment === undefined ? {} : { summary: firstSentence(comment), description: comment }),
    ...(method.deprecated ? { deprecated: true } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body === undefined ? {} : { requestBody: body }),
    responses: {
      ...successResponsesOf(binding, registry, extras),
      ...errorResponsesOf(codes, body !== undefined),
      default: { $ref: `#/components/responses/${otherErrorsName}` },
    },
    ...(queryToken ? { security: [{ bearerAuth: [] }, { [queryTokenScheme]: [] }] } : {}),
  };
}

/**
 * `body: "*"`: the request message, less the fields the path sets (an inline schema
 * then). `body: "field"`: that field's schema. Marked required, as the route expects a
 * body (the transcoder reads an empty one as `{}`, but clients should send one).
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
      return withOptional({ content: json(schema), required: true }, "description", registry.commentOf(input));
    }
    case "field": {
      const { description, ...schema } = registry.fieldSchema(binding.body.field);
      return withOptional({ content: json(schema), required: true }, "description", description);
    }
  }
}

function json(schema: SchemaObject): Record<string, MediaTypeObject> {
  return { "application/json": { schema } };
}

/** `object` with `key` set when `value` is defined (exactOptionalPropertyTypes forbids writing undefined). */
function withOptional<T extends object, K extends string>(object: T, key: K, value: string | undefined): T & Partial<Record<K, string>> {
  return value === undefined ? object : { ...object, [key]: value };
}
