/**
 * The parts of an OpenAPI 3.1 document this generator writes, typed as narrowly as the
 * generator needs. Our own rather than openapi-typescript's (whose schema type has no
 * `pattern`, no `{}` "any JSON" schema) or openapi-types' (only a transitive dependency):
 * every object here is plain JSON, and schemas are JSON Schema 2020-12 as OpenAPI 3.1 uses.
 */

/** A JSON Schema 2020-12 type name. */
export type JsonSchemaType = "string" | "number" | "integer" | "boolean" | "object" | "array" | "null";

/** A JSON Schema (2020-12, the OpenAPI 3.1 dialect). `{}` accepts any JSON value. */
export interface SchemaObject {
  $ref?: string;
  type?: JsonSchemaType | JsonSchemaType[];
  format?: string;
  pattern?: string;
  contentEncoding?: string;
  enum?: string[];
  const?: string;
  description?: string;
  deprecated?: boolean;
  properties?: Record<string, SchemaObject>;
  additionalProperties?: SchemaObject | boolean;
  propertyNames?: SchemaObject;
  required?: string[];
  items?: SchemaObject;
  oneOf?: SchemaObject[];
  anyOf?: SchemaObject[];
  allOf?: SchemaObject[];
}

/** A query, path or header parameter. */
export interface ParameterObject {
  name: string;
  in: "query" | "path" | "header";
  description?: string;
  required?: boolean;
  deprecated?: boolean;
  style?: "form" | "simple" | "deepObject";
  explode?: boolean;
  schema: SchemaObject;
}

/** One media type of a request or response body. */
export interface MediaTypeObject {
  schema: SchemaObject;
}

/** A request body. */
export interface RequestBodyObject {
  description?: string;
  content: Record<string, MediaTypeObject>;
  required?: boolean;
}

/** A response header; `required` when every such response carries it. */
export interface HeaderObject {
  description?: string;
  required?: boolean;
  schema: SchemaObject;
}

/** A `$ref` to a component. */
export interface ReferenceObject {
  $ref: string;
}

/** The headers of a response, by name. */
export type HeadersObject = Record<string, HeaderObject | ReferenceObject>;

/** A response, or a `$ref` to one in `components.responses`. */
export type ResponseObject = { description: string; headers?: HeadersObject; content?: Record<string, MediaTypeObject> } | ReferenceObject;

/** One HTTP method on one path. */
export interface OperationObject {
  operationId: string;
  tags: string[];
  summary?: string;
  description?: string;
  deprecated?: boolean;
  parameters?: ParameterObject[];
  requestBody?: RequestBodyObject;
  responses: Record<string, ResponseObject>;
  /** Alternatives to the document's security, for this operation only. */
  security?: Record<string, string[]>[];
}

/** The HTTP methods an OpenAPI 3.1 path item can hold. */
export type PathItemMethod = "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace";

/** The operations of one path. */
export type PathItemObject = Partial<Record<PathItemMethod, OperationObject>>;

/** A security scheme: HTTP bearer authentication, or the same token as a query parameter. */
export type SecuritySchemeObject =
  { type: "http"; scheme: "bearer"; description?: string } | { type: "apiKey"; in: "query"; name: string; description?: string };

/** A tag, one per service. */
export interface TagObject {
  name: string;
  description?: string;
}

/** The API's license: a name, and an SPDX identifier or a URL. */
export interface LicenseObject {
  name: string;
  identifier?: string;
  url?: string;
}

/** Where the API is served; a relative URL is relative to where the document was fetched. */
export interface ServerObject {
  url: string;
  description?: string;
}

/** The whole document. */
export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description?: string; license?: LicenseObject };
  servers?: ServerObject[];
  tags: TagObject[];
  paths: Record<string, PathItemObject>;
  components: {
    schemas: Record<string, SchemaObject>;
    responses: Record<string, ResponseObject>;
    headers?: Record<string, HeaderObject>;
    securitySchemes?: Record<string, SecuritySchemeObject>;
  };
  security?: Record<string, string[]>[];
}
