/**
 * The JSON error body REST callers get: google.rpc.Status in proto3 JSON,
 * `{"code": 5, "message": "…", "details": [{"@type": "type.googleapis.com/…", …}]}`,
 * the shape grpc-gateway and vanguard-go send. `code` is the gRPC code as a number,
 * `message` the error's own text (without connect-es's "[code]" prefix), `details` every
 * error detail as an Any; all three are always present. Details whose type the registry
 * does not know keep their bytes: `{"@type": …, "value": "<base64>"}`.
 */
import { create, createRegistry, toJson } from "@bufbuild/protobuf";
import type { JsonObject, JsonValue, Registry } from "@bufbuild/protobuf";
import { anyPack, AnySchema, type Duration } from "@bufbuild/protobuf/wkt";
import type { ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";

const typeUrlPrefix = "type.googleapis.com/";

/** `error` as google.rpc.Status JSON. */
export function statusJson(error: ConnectError, registry: Registry): JsonObject {
  return { code: error.code, message: error.rawMessage, details: error.details.map((detail) => detailJson(detail, registry)) };
}

type Detail = ConnectError["details"][number];

function detailJson(detail: Detail, registry: Registry): JsonValue {
  if ("desc" in detail) {
    const any = anyPack(detail.desc, create(detail.desc, detail.value));
    return toJson(AnySchema, any, { registry: createRegistry(registry, detail.desc) });
  }
  const typeUrl = `${typeUrlPrefix}${detail.type}`;
  if (registry.getMessage(detail.type) !== undefined) {
    try {
      return toJson(AnySchema, create(AnySchema, { typeUrl, value: detail.value }), { registry });
    } catch {
      // Bytes that do not parse as the named type: fall through and send them as they are.
    }
  }
  return { "@type": typeUrl, value: Buffer.from(detail.value).toString("base64") };
}

/**
 * Seconds for a `Retry-After` header from a google.rpc.RetryInfo detail, rounded up (the
 * header has whole seconds), or undefined when the error carries none.
 */
export function retryAfterSeconds(error: ConnectError): number | undefined {
  const delay: Duration | undefined = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
  if (delay === undefined) return undefined;
  return Math.max(0, Math.ceil(Number(delay.seconds) + delay.nanos / 1e9));
}
