/**
 * The refusals of the auth interceptor that say more than their code. A 401 carries the
 * `WWW-Authenticate` challenge RFC 6750 §3 asks of a Bearer-token server, as error
 * metadata: REST and Connect answers send it as a header of the 401, gRPC and gRPC-web
 * callers find it in the trailers. A server without a root key says that AdminService is
 * disabled and how to enable it, rather than that the caller's key is wrong.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** Every 401's challenge: the Bearer scheme and the realm, which a client may show the user. */
const bearerChallenge = 'Bearer realm="runline"';

/** No Bearer credential at all: the challenge has no `error` (RFC 6750 §3.1). */
export function missingKey(): ConnectError {
  return new ConnectError("missing API key: send Authorization: Bearer <key>", Code.Unauthenticated, {
    "www-authenticate": bearerChallenge,
  });
}

/** A Bearer credential that is no key, or a revoked one: `error="invalid_token"` (RFC 6750 §3.1). */
export function unknownKey(): ConnectError {
  return new ConnectError("unknown or revoked API key", Code.Unauthenticated, {
    "www-authenticate": `${bearerChallenge}, error="invalid_token", error_description="unknown or revoked API key"`,
  });
}

/** What a refused access token is told, by why it was refused. */
const tokenRefusals = {
  malformed: "not a valid access token",
  expired: "the access token has expired",
  revoked: "the access token's API key was revoked",
} as const;

/** A Bearer credential shaped as an access token that is not a valid one now: `error="invalid_token"`, as for keys. */
export function refusedToken(why: keyof typeof tokenRefusals): ConnectError {
  const description = tokenRefusals[why];
  return new ConnectError(description, Code.Unauthenticated, {
    "www-authenticate": `${bearerChallenge}, error="invalid_token", error_description="${description}"`,
  });
}

/**
 * An access token this replica cannot check: it has not read the revoked keys for two
 * refresh periods (the database is unreachable), so it cannot rule out a revocation.
 * UNAVAILABLE: the token may well be good, and a retry (perhaps on another replica) may pass.
 */
export function unverifiableToken(): ConnectError {
  return new ConnectError("cannot check access tokens now (the revoked-key list is out of date); retry", Code.Unavailable);
}

/**
 * AdminService without a root key. UNIMPLEMENTED, as gRPC defines it: "not implemented or
 * not supported/enabled in this service" (HTTP 501). Not FAILED_PRECONDITION (HTTP 400):
 * nothing the caller can change in its request or reach in the system enables it; only
 * the operator can, by setting RUNLINE_ROOT_KEY. Not UNAUTHENTICATED: no key would do.
 */
export function adminServiceDisabled(): ConnectError {
  const info = create(ErrorInfoSchema, { reason: "ADMIN_SERVICE_DISABLED", domain: "runline.dev" });
  return new ConnectError(
    "AdminService is disabled: this server has no root key. Set RUNLINE_ROOT_KEY (at least 16 characters) and restart the server to enable it",
    Code.Unimplemented,
    undefined,
    [{ desc: ErrorInfoSchema, value: info }],
  );
}
