/**
 * grpc.health.v1.Health (https://github.com/grpc/grpc/blob/master/doc/health-checking.md),
 * so load balancers, Kubernetes gRPC probes and grpc-health-probe can ask whether this
 * process should get traffic. It translates the process's health conditions
 * (health/health-state.ts) into a serving status per service; nothing else.
 *
 * Service "" is the server as a whole. A service that needs the database is NOT_SERVING
 * while the probe cannot reach it; services answered from memory (health, reflection)
 * stay SERVING. Everything is NOT_SERVING once shutdown begins.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
  type HealthCheckResponse,
} from "../../gen/health/v1/health_pb.js";
import type { HealthConditions, HealthState } from "../health/health-state.js";

/** A service this server answers, and whether its calls need the database. */
export interface ServedService {
  /** Fully-qualified name, e.g. `runline.v1.RunsService`. */
  readonly name: string;
  readonly needsDatabase: boolean;
}

/** The whole server, by the protocol's convention. */
const OVERALL = "";

/** The status of `service` under `conditions`, or SERVICE_UNKNOWN when it is not served. */
function statusOf(service: string, served: readonly ServedService[], conditions: HealthConditions): ServingStatus {
  const known = served.find((candidate) => candidate.name === service);
  if (service !== OVERALL && known === undefined) return ServingStatus.SERVICE_UNKNOWN;
  if (conditions.shuttingDown) return ServingStatus.NOT_SERVING;
  const needsDatabase = known?.needsDatabase ?? true; // the server as a whole needs it
  return needsDatabase && !conditions.databaseReachable ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
}

function response(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

/**
 * The Health service over `state`. `services` lists what the server answers; it is a
 * function so that the list can be read after every route has been registered.
 */
export function healthService(state: HealthState, services: () => readonly ServedService[]): ServiceImpl<typeof Health> {
  return {
    check(request) {
      const status = statusOf(request.service, services(), state.current());
      // The spec's answer for a name we do not serve; SERVICE_UNKNOWN is for Watch only.
      if (status === ServingStatus.SERVICE_UNKNOWN) throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      return response(status);
    },

    // Sends the status at once and then on each change. An unknown name gets
    // SERVICE_UNKNOWN and the call stays open, as the spec asks, until the client leaves
    // or the server shuts down; it ends with OK, after which clients re-watch.
    async *watch(request, context) {
      let last: ServingStatus | undefined;
      for await (const conditions of state.watch(context.signal)) {
        const status = statusOf(request.service, services(), conditions);
        if (status === last) continue;
        last = status;
        yield response(status);
      }
    },

    list() {
      const conditions = state.current();
      const names = [OVERALL, ...services().map((service) => service.name)];
      return { statuses: Object.fromEntries(names.map((name) => [name, response(statusOf(name, services(), conditions))])) };
    },
  };
}
