/**
 * What the WorkerService tests share: worker clients, workflows with run defaults,
 * durations, bounded waits and error capture. Every wait here is bounded, so a bug
 * fails its test instead of hanging it.
 */
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { durationFromMs, ValueSchema, type Duration, type Value } from "@bufbuild/protobuf/wkt";
import { ConnectError, type Client } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { clientFor, json, type Protocol, type TenantFixture } from "../support/clients.js";

/** A WorkerService client acting with the tenant's key against `baseUrl`. */
export function workerClient(tenant: TenantFixture, baseUrl: string, protocol: Protocol = "connect-json"): Client<typeof WorkerService> {
  return clientFor(WorkerService, protocol, baseUrl, tenant.key);
}

/** `ms` milliseconds as a google.protobuf.Duration (short to read in requests). */
export const millis = (ms: number): Duration => durationFromMs(ms);

/** Run defaults of a workflow, in milliseconds (0 or absent = the server's default). */
export interface DefaultsInMillis {
  readonly maxAttempts?: number;
  readonly backoffMs?: number;
  readonly timeoutMs?: number;
  readonly concurrencyLimit?: number;
}

/** Creates a workflow taking `{ n: integer }` with the given run defaults; returns its id. */
export async function createWorkflowWith(tenant: TenantFixture, slug: string, defaults: DefaultsInMillis = {}): Promise<string> {
  const { workflow } = await tenant.workflows().createWorkflow({
    slug,
    definition: json({ kind: "worker-test" }),
    inputSchema: json({ type: "object", properties: { n: { type: "integer" } }, required: ["n"] }),
    defaults: {
      maxAttempts: defaults.maxAttempts ?? 0,
      concurrencyLimit: defaults.concurrencyLimit ?? 0,
      ...(defaults.backoffMs === undefined ? {} : { backoff: millis(defaults.backoffMs) }),
      ...(defaults.timeoutMs === undefined ? {} : { timeout: millis(defaults.timeoutMs) }),
    },
  });
  return workflow!.id;
}

/** A google.protobuf.Value as plain JSON (undefined when absent). */
export function plain(value: Value | undefined): JsonValue | undefined {
  return value === undefined ? undefined : toJson(ValueSchema, value);
}

/** The google.rpc.ErrorInfo reason of a refusal. */
export function reasonOf(error: ConnectError): string | undefined {
  return error.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** The `p`-th percentile (0–100) of `samples`, nearest-rank. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export { eventually, rejection, sleep, within } from "../support/expectations.js";
