/**
 * Every RPC the server answers, read from the generated descriptors rather than listed
 * by hand, so a new RPC is attacked the day it is added: its request message, its
 * streaming kind, whether Connect may serve it over GET, its REST bindings (from the
 * `google.api.http` annotations) and which of the suite's keys can reach its handler.
 */
import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { Health } from "../../gen/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AdminService } from "../../gen/runline/v1/admin_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";

/** The services under attack. */
export const hostileServices: readonly DescService[] = [
  RunsService,
  WorkflowsService,
  WorkerService,
  AdminService,
  WebhooksService,
  Health,
  ReflectionV1,
  ReflectionV1alpha,
];

/** One REST binding: HTTP method, path template, and where the body goes. */
export interface RestBinding {
  readonly httpMethod: string;
  /** e.g. `/api/v1/runs/{run_id}:cancel`. */
  readonly template: string;
  /** Proto names of the fields the path fills, in order. */
  readonly pathFields: readonly string[];
  /** `*`, a top-level field's proto name, or "" for none (query parameters then). */
  readonly body: string;
}

/** Which key a call carries: the root key, a tenant key of some scope, or none. */
export type KeyKind = "root" | "full" | "worker" | "read";

/** An RPC and how it can be reached. */
export interface CatalogEntry {
  readonly method: DescMethod;
  /** `/package.Service/Method`. */
  readonly path: string;
  /** Reads marked NO_SIDE_EFFECTS: Connect also serves them over GET. */
  readonly connectGet: boolean;
  readonly rest: readonly RestBinding[];
  /** The keys whose calls reach the handler (the first is the usual one). */
  readonly keys: readonly KeyKind[];
  /** RPCs that may legitimately wait until the client's deadline (long polls, streams). */
  readonly mayWait: boolean;
}

function restBinding(rule: HttpRule): RestBinding | undefined {
  const { case: httpMethod, value } = rule.pattern;
  if (httpMethod === undefined) return undefined;
  const template = httpMethod === "custom" ? value.path : value;
  const pathFields = [...template.matchAll(/\{([^}=]+)(=[^}]*)?\}/g)].map((match) => match[1]!);
  return {
    httpMethod: httpMethod === "custom" ? value.kind.toUpperCase() : httpMethod.toUpperCase(),
    template,
    pathFields,
    body: rule.body,
  };
}

function restBindings(method: DescMethod): RestBinding[] {
  if (!hasOption(method, http)) return [];
  const rule = getOption(method, http);
  return [rule, ...rule.additionalBindings].map(restBinding).filter((binding) => binding !== undefined);
}

function keysFor(service: DescService, method: DescMethod): KeyKind[] {
  if (service === AdminService) return ["root"];
  if (service === WorkerService) return ["worker", "full"];
  if (service === Health || service === ReflectionV1 || service === ReflectionV1alpha) return ["full"];
  // A read that needs more than the read scope: the run-webhook secret signs deliveries.
  if (method.name === "GetRunWebhookSecret") return ["full"];
  return method.idempotency === Idempotency.NO_SIDE_EFFECTS ? ["full", "read"] : ["full", "worker", "read"];
}

const waiting = new Set(["RunAndWait", "GetRunOutput", "ClaimRuns"]);

/** Every RPC of `hostileServices`. */
export const catalog: readonly CatalogEntry[] = hostileServices.flatMap((service) =>
  service.methods.map((method) => ({
    method,
    path: `/${service.typeName}/${method.name}`,
    connectGet: method.idempotency === Idempotency.NO_SIDE_EFFECTS,
    rest: restBindings(method),
    keys: keysFor(service, method),
    mayWait: method.methodKind !== "unary" || waiting.has(method.name),
  })),
);
