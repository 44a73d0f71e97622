/**
 * The error responses of each operation, by HTTP status, as the transcoder answers
 * them: every error is a google.rpc.Status body whose HTTP status comes from its gRPC
 * code through the transcoder's own table (so the document cannot drift from it), plus
 * the statuses the transcoder itself gives some requests (413 and 415 for bodies).
 *
 * Which codes an operation can end with is the app's knowledge, not the descriptors':
 * the app lists them (ErrorCodes, from the plugin's `errors` option) for all methods,
 * a service or one method. The transcoder adds what it answers on its own to every
 * operation: INVALID_ARGUMENT (an unreadable request), DEADLINE_EXCEEDED (the caller's
 * `X-Server-Timeout` passed), INTERNAL; and UNAUTHENTICATED when the document requires
 * a bearer token. Each status is one component in `components.responses`, whose
 * description says which codes it carries and what they mean.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { httpStatusFor } from "../http/transcoding/index.js";
import type { HeadersObject, ReferenceObject, ResponseObject, SchemaObject } from "./openapi-types.js";

/** gRPC codes that some methods can end with, beyond those every operation can. */
export interface ErrorCodes {
  /** `*` (every method), `package.Service` or `package.Service.Method`. */
  readonly selector: string;
  readonly codes: readonly Code[];
}

/** The gRPC code names as the gRPC spec writes them (CANCELLED with two Ls). */
export const codeNames: ReadonlyMap<string, Code> = new Map([
  ["CANCELLED", Code.Canceled],
  ["UNKNOWN", Code.Unknown],
  ["INVALID_ARGUMENT", Code.InvalidArgument],
  ["DEADLINE_EXCEEDED", Code.DeadlineExceeded],
  ["NOT_FOUND", Code.NotFound],
  ["ALREADY_EXISTS", Code.AlreadyExists],
  ["PERMISSION_DENIED", Code.PermissionDenied],
  ["RESOURCE_EXHAUSTED", Code.ResourceExhausted],
  ["FAILED_PRECONDITION", Code.FailedPrecondition],
  ["ABORTED", Code.Aborted],
  ["OUT_OF_RANGE", Code.OutOfRange],
  ["UNIMPLEMENTED", Code.Unimplemented],
  ["INTERNAL", Code.Internal],
  ["UNAVAILABLE", Code.Unavailable],
  ["DATA_LOSS", Code.DataLoss],
  ["UNAUTHENTICATED", Code.Unauthenticated],
]);

/** What each code tells a caller, in a sentence. */
const codeMeanings: Record<Code, string> = {
  [Code.Canceled]: "the caller cancelled the call",
  [Code.Unknown]: "a fault of the server's that it cannot classify",
  [Code.InvalidArgument]:
    "the request is malformed (body, parameter or header) or a field has a bad value; a `google.rpc.BadRequest` detail names the fields",
  [Code.DeadlineExceeded]: "the call's deadline (the `X-Server-Timeout` request header, in seconds) passed before it finished",
  [Code.NotFound]: "the resource does not exist, or the caller may not see it",
  [Code.AlreadyExists]: "what the call would create exists already",
  [Code.PermissionDenied]: "the credentials are valid but lack the permission (scope) this method needs",
  [Code.ResourceExhausted]: "a limit or the server's capacity is used up; retry later",
  [Code.FailedPrecondition]: "the resource is not in a state that allows the call; retrying as is will not help",
  [Code.Aborted]: "a concurrent change got in the way; retry the call",
  [Code.OutOfRange]: "a value is past the valid range",
  [Code.Unimplemented]: "the server does not implement this",
  [Code.Internal]: "a fault of the server's; the message says no more",
  [Code.Unavailable]: "the server cannot serve the call now (a dependency is unreachable, or it is shutting down); retry later",
  [Code.DataLoss]: "data was lost or corrupted",
  [Code.Unauthenticated]: "no credentials, or credentials that are unknown, revoked or expired",
};

/** Component names of the error statuses, after their reason phrases (RFC 9110). */
const statusNames: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  413: "ContentTooLarge",
  415: "UnsupportedMediaType",
  429: "TooManyRequests",
  499: "ClientClosedRequest",
  500: "InternalServerError",
  501: "NotImplemented",
  503: "ServiceUnavailable",
  504: "GatewayTimeout",
};

/** Statuses the transcoder gives requests with a body before any code applies. */
const bodyRefusals: Record<number, string> = {
  413: "The request body is larger than the server accepts (RESOURCE_EXHAUSTED in the body).",
  415: "The body is not JSON (`Content-Type` other than `application/json` in UTF-8) or is compressed (INVALID_ARGUMENT in the body).",
};

/** The name of the response for errors no status describes. */
export const otherErrorsName = "Error";

/** The HTTP status a REST caller gets for `code`, from the transcoder's table. */
function statusOf(code: Code): number {
  return httpStatusFor(new ConnectError("", code));
}

/** The codes `method`'s operations can end with, given the app's lists and what the transcoder adds. */
export function codesOf(method: DescMethod, lists: readonly ErrorCodes[], bearerAuth: boolean): Code[] {
  const names = ["*", method.parent.typeName, `${method.parent.typeName}.${method.name}`];
  const codes = new Set<Code>([Code.InvalidArgument, Code.DeadlineExceeded, Code.Internal]);
  if (bearerAuth) codes.add(Code.Unauthenticated);
  for (const list of lists) if (names.includes(list.selector)) list.codes.forEach((code) => codes.add(code));
  return [...codes];
}

/** The error responses of one operation, by status, in status order: `$ref`s to the components. */
export function errorResponsesOf(codes: readonly Code[], hasBody: boolean): Record<string, ReferenceObject> {
  const statuses = new Set(codes.map(statusOf));
  if (hasBody) Object.keys(bodyRefusals).forEach((status) => statuses.add(Number(status)));
  const ordered = [...statuses].sort((a, b) => a - b);
  return Object.fromEntries(ordered.map((status) => [String(status), { $ref: `#/components/responses/${componentName(status)}` }]));
}

function componentName(status: number): string {
  return statusNames[status] ?? `Status${status}`;
}

/**
 * `components.responses` for the statuses `responses` refer to, and the catch-all
 * `Error`: each a google.rpc.Status body with the request id header.
 */
export function errorResponseComponents(
  statuses: ReadonlySet<number>,
  statusSchema: SchemaObject,
  headers: HeadersObject,
): Record<string, ResponseObject> {
  const content = { "application/json": { schema: statusSchema } };
  const components: Record<string, ResponseObject> = {};
  for (const status of [...statuses].sort((a, b) => a - b)) {
    components[componentName(status)] = { description: describeStatus(status), headers, content };
  }
  components[otherErrorsName] = {
    description:
      "Any other error, as a google.rpc.Status whose `code` is the gRPC status code; the HTTP status follows the canonical gRPC→HTTP mapping.",
    headers,
    content,
  };
  return components;
}

function describeStatus(status: number): string {
  const refusal = bodyRefusals[status];
  if (refusal !== undefined) return refusal;
  const codes = [...codeNames].filter(([, code]) => statusOf(code) === status);
  const lines = codes.map(([name, code]) => `- \`${name}\`: ${codeMeanings[code]}.`);
  return [`A google.rpc.Status whose \`code\` is one of:`, ...lines].join("\n");
}
