/**
 * What operators and tools reach beside the API: gRPC health checking, server
 * reflection (v1 and v1alpha), and the plain-HTTP probes `/healthz` and `/readyz`. None
 * needs an API key (api/method-scopes.ts treats services it does not list as public):
 * balancers and debugging tools carry none, and nothing here reveals tenant data.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health } from "../../gen/health/v1/health_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { HealthState } from "../health/health-state.js";
import { sendResponse, type Endpoint } from "../http/handler-chain.js";
import { healthService } from "./health-service.js";
import { createReflectionCatalog, reflectionServiceV1, reflectionServiceV1alpha } from "./reflection-service.js";

/** Services answered from memory: they keep serving while the database is away. */
const answeredFromMemory = new Set([Health.typeName, ServerReflectionV1.typeName, ServerReflectionV1alpha.typeName]);

/**
 * Not imported by any service, but named in the details of our errors (ErrorInfo,
 * BadRequest inside google.rpc.Status): tools resolve them by reflection to print them.
 */
const errorDetailFiles = [file_google_rpc_error_details, file_google_rpc_status];

/** Evaluates `make` on first call and remembers the result. */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

/**
 * Registers Health and both reflection services on `router`. What they report is read
 * from `router.handlers` on first use, i.e. once every route is registered, so the
 * order of registration does not matter and nothing is listed twice by hand.
 */
export function registerOpsRoutes(router: ConnectRouter, health: HealthState): void {
  const served = once((): DescService[] => [
    ...new Map(router.handlers.map((handler) => [handler.service.typeName, handler.service])).values(),
  ]);
  const servedHealth = once(() =>
    served().map((service) => ({ name: service.typeName, needsDatabase: !answeredFromMemory.has(service.typeName) })),
  );
  const catalog = once(() => createReflectionCatalog(served(), errorDetailFiles));
  router.service(Health, healthService(health, servedHealth));
  router.service(ServerReflectionV1, reflectionServiceV1(catalog));
  router.service(ServerReflectionV1alpha, reflectionServiceV1alpha(catalog));
}

const probeHeaders = { "content-type": "application/json", "cache-control": "no-store" };

/**
 * `GET /healthz`: 200 while the process runs and answers (liveness: restart it only
 * when this fails). `GET /readyz`: 200 when the database is reachable and every
 * migration applied, else 503 with the reason (readiness: route traffic elsewhere).
 * HEAD is answered too, without a body. Other paths are left to the next endpoint.
 */
export function probeEndpoint(health: HealthState): Endpoint {
  return async (request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== "/healthz" && path !== "/readyz") return false;
    if (request.method !== "GET" && request.method !== "HEAD") {
      sendResponse(response, 405, { ...probeHeaders, allow: "GET, HEAD" }, JSON.stringify({ error: "use GET or HEAD" }));
      return true;
    }
    const [status, body] = path === "/healthz" ? [200, { status: "alive" }] : await readinessAnswer(health);
    sendResponse(response, status, probeHeaders, request.method === "HEAD" ? undefined : JSON.stringify(body));
    return true;
  };
}

async function readinessAnswer(health: HealthState): Promise<[number, object]> {
  const readiness = await health.ready();
  return [readiness.ready ? 200 : 503, readiness];
}
