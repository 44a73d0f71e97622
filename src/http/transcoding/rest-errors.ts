/**
 * Errors of the REST layer and their HTTP statuses. Everything that fails, in the
 * handler or in the transcoder itself, is a ConnectError with one of the 16 gRPC codes;
 * the HTTP status comes from the canonical gRPC→HTTP table that grpc-gateway, vanguard-go
 * and connect-es share. Refusals that HTTP has a more exact status for (unknown route,
 * wrong method, body too large, wrong content type) keep their gRPC code in the body and
 * carry that status beside it.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../../gen/google/rpc/error_details_pb.js";

const httpStatusByCode: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/**
 * HTTP statuses that differ from the table, keyed by the error object. A WeakMap rather
 * than a subclass: ConnectError's `instanceof` recognises any error named "ConnectError",
 * so a subclass could not be told apart by `instanceof`.
 */
const httpStatusOverrides = new WeakMap<ConnectError, number>();

/** The HTTP status a REST caller gets for `error`. */
export function httpStatusFor(error: ConnectError): number {
  return httpStatusOverrides.get(error) ?? httpStatusByCode[error.code] ?? 500;
}

/** A refusal whose HTTP status is not the code's canonical one (404 route, 405, 413, 415). */
export function httpRefusal(code: Code, httpStatus: number, message: string): ConnectError {
  const error = new ConnectError(message, code);
  httpStatusOverrides.set(error, httpStatus);
  return error;
}

/**
 * INVALID_ARGUMENT (400) for a request the transcoder cannot read as a whole (a body that
 * is not UTF-8, a body where the route takes none). Its google.rpc.BadRequest violation
 * names no field (""), as Google's APIs answer a payload they cannot parse: the request
 * itself is at fault, and clients that look for violations still find one.
 */
export function malformedRequest(message: string): ConnectError {
  return malformedField("", message);
}

/**
 * INVALID_ARGUMENT (400) for one bad part of a request: `field` is the query parameter,
 * header or field path at fault (JSON names), carried as a google.rpc.BadRequest field
 * violation so clients can point at the culprit without parsing the message;
 * `description` says what is wrong with it (default: the message).
 */
export function malformedField(field: string, message: string, description = message): ConnectError {
  const details = [{ desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: [{ field, description }] }) }];
  return new ConnectError(message, Code.InvalidArgument, undefined, details);
}

/**
 * A failure as the ConnectError a REST caller sees. ConnectErrors pass as they are;
 * anything else is a bug or an infrastructure failure whose text may hold internals, so
 * the caller sees only "internal error" and `report` gets the original.
 */
export function hideUnexpectedError(error: unknown, report: (error: unknown) => void): ConnectError {
  if (error instanceof ConnectError) return error;
  report(error);
  return new ConnectError("internal error", Code.Internal, undefined, undefined, error);
}
