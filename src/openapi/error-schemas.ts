/**
 * The schemas of REST error bodies: google.rpc.Status and the typed details it carries
 * (google.rpc.ErrorInfo, google.rpc.BadRequest; any other as a plain `Any`). Written out
 * rather than derived from status.proto and error_details.proto: the error body is the
 * transcoder's contract (all three Status members always present, details in the proto3
 * JSON form of `Any`), and the services described need not import those files.
 *
 * Each detail is described as it travels, packed in an `Any`: its members beside an
 * `@type` that names it, so a client can tell details apart by `@type` alone.
 */
import type { SchemaObject } from "./openapi-types.js";

/** The component names of the error schemas, by proto full name. */
export const errorSchemaNames = {
  status: "google.rpc.Status",
  errorInfo: "google.rpc.ErrorInfo",
  badRequest: "google.rpc.BadRequest",
} as const;

/** `type.googleapis.com/<name>`, as `@type` names a packed message. */
function typeUrl(name: string): string {
  return `type.googleapis.com/${name}`;
}

/** The proto3 JSON form of a google.protobuf.Any holding a message this document does not describe. */
export function anySchema(): SchemaObject {
  return {
    type: "object",
    description: "A message of any type: `@type` names it (`type.googleapis.com/<full name>`), the other members are its JSON fields.",
    properties: { "@type": { type: "string" } },
    required: ["@type"],
    additionalProperties: true,
  };
}

/** google.rpc.Status, whose details are one of `details` (`$ref`s to the detail components) or any other `Any`. */
export function statusComponent(details: readonly SchemaObject[]): SchemaObject {
  return {
    type: "object",
    description:
      "An error. `code` is the gRPC status code (e.g. 5 NOT_FOUND); the HTTP status follows the canonical gRPC→HTTP mapping. `details` holds typed details such as `google.rpc.ErrorInfo` (a machine-readable reason) and `google.rpc.BadRequest` (which fields are invalid), each named by its `@type`.",
    properties: {
      code: { type: "integer", format: "int32", description: "The gRPC status code." },
      message: { type: "string", description: "A developer-facing description of the error." },
      details: { type: "array", items: { anyOf: [...details, anySchema()] }, description: "Typed error details." },
    },
    required: ["code", "message", "details"],
  };
}

/** A detail as it travels: `@type` fixed to its own name, beside its members. */
function packedDetail(name: string, description: string, properties: Record<string, SchemaObject>): SchemaObject {
  return {
    type: "object",
    description,
    properties: { "@type": { type: "string", const: typeUrl(name) }, ...properties },
    required: ["@type"],
  };
}

/** google.rpc.ErrorInfo, packed. */
export function errorInfoComponent(): SchemaObject {
  return packedDetail(errorSchemaNames.errorInfo, "Why the call failed, in a form a program can act on (AIP-193).", {
    reason: { type: "string", description: "A stable UPPER_SNAKE_CASE identifier of the cause within `domain`, e.g. `RUN_NOT_FOUND`." },
    domain: { type: "string", description: "The service or organisation that defines `reason`." },
    metadata: { type: "object", additionalProperties: { type: "string" }, description: "More about the cause, as string pairs." },
  });
}

/** google.rpc.BadRequest, packed. */
export function badRequestComponent(): SchemaObject {
  const violation: SchemaObject = {
    type: "object",
    properties: {
      field: { type: "string", description: "The request field, query parameter or header at fault, e.g. `input.age` or `pageSize`." },
      description: { type: "string", description: "What is wrong with it." },
      reason: { type: "string", description: "A stable UPPER_SNAKE_CASE identifier of the problem, when there is one." },
      localizedMessage: {
        type: "object",
        description: "The problem in words for an end user, when there are some.",
        properties: { locale: { type: "string" }, message: { type: "string" } },
      },
    },
  };
  return packedDetail(errorSchemaNames.badRequest, "Which parts of the request are invalid, and why.", {
    fieldViolations: { type: "array", items: violation, description: "One entry per bad field." },
  });
}
