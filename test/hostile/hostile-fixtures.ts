/**
 * What the hostile suite needs so its inputs reach handlers instead of stopping at
 * authentication or NOT_FOUND: a tenant with every scope, a worker-only and a read-only
 * key, a workflow whose schema takes any object, runs (some with events, some leased)
 * and valid values by field name for everything else, so that one hostile field rides
 * on an otherwise valid request.
 */
import type { DescField, JsonValue } from "@bufbuild/protobuf";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { clientFor, createTenant, json } from "../support/clients.js";
import { testRootKey } from "../support/test-server.js";
import type { FieldFixtures } from "./hostile-json.js";
import type { KeyKind } from "./rpc-catalog.js";

/** The suite's tenant, keys and valid field values. */
export interface HostileFixtures extends FieldFixtures {
  readonly keys: Readonly<Record<KeyKind, string>>;
  /** A run that exists, for liveness checks afterwards. */
  readonly probeRunId: string;
}

/** Creates the fixtures on the server at `baseUrl` (its root key must be `testRootKey`). */
export async function createHostileFixtures(baseUrl: string): Promise<HostileFixtures> {
  const tenant = await createTenant(baseUrl, [Scope.READ, Scope.WRITE, Scope.WORKER, Scope.ADMIN]);
  const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
  const keyOf = async (scopes: Scope[]) => (await admin.createApiKey({ tenant: tenant.tenantId, scopes })).secret;
  const worker = await keyOf([Scope.WORKER]);
  const read = await keyOf([Scope.READ]);
  // A key the suite may see revoked: RevokeApiKey gets its id, never those of the keys in use.
  const spare = (await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.READ] })).apiKey!.id;
  const { workflow } = await tenant
    .workflows()
    .createWorkflow({ slug: "hostile", definition: json({ kind: "hostile" }), inputSchema: json({ type: "object" }) });
  const runs = tenant.runs();
  const runIds: string[] = [];
  for (let index = 0; index < 8; index += 1) {
    const { run } = await runs.createRun({ workflow: "hostile", input: json({ index }), labels: { suite: "hostile" } });
    runIds.push(run!.id);
    if (index < 3) await runs.ingestRunEvents({ runId: run!.id, events: [{ type: "progress", data: json({ index }) }] });
  }
  // The probe run is kept out of the fixtures: hostile DeleteRun calls must not reach it.
  const { run: probe } = await runs.createRun({ workflow: "hostile", input: json({ probe: true }) });
  const workerClient = clientFor(WorkerService, "connect-json", baseUrl, worker);
  const { leases } = await workerClient.claimRuns({
    workerId: "hostile-fixture",
    workflows: ["hostile"],
    maxRuns: 2,
    leaseDuration: { seconds: 3600n },
  });
  const leaseIds = leases.map((lease) => lease.leaseId);
  const createRun: JsonValue = { workflow: "hostile", input: { n: 1 } };
  const byName: Record<string, readonly JsonValue[]> = {
    run_id: runIds,
    workflow: ["hostile", workflow!.id],
    workflows: [["hostile"]],
    workflow_version: [1],
    version: [1],
    input: [{}, { n: 1 }],
    labels: [{ suite: "hostile" }],
    lease_id: [...leaseIds, "00000000-0000-4000-8000-000000000000"],
    worker_id: ["hostile-worker"],
    // A tenant by id or slug, or (UpdateTenant's `tenant`) the resource itself.
    tenant: [tenant.tenantId, tenant.slug, { id: tenant.slug, retention: "604800s" }],
    api_key_id: [spare],
    slug: ["hostile-a", "hostile-b"],
    definition: [{ kind: "hostile" }],
    input_schema: [{ type: "object" }],
    resume_schema: [{ type: "object" }],
    payload: [{}],
    output: [{ ok: true }],
    scopes: [["SCOPE_READ"]],
    display_name: ["hostile"],
    reason: ["hostile"],
    message: ["hostile"],
    code: ["E1"],
    wait_timeout: ["0.2s"],
    block_timeout: ["0.2s"],
    lease_duration: ["5s"],
    timeout: ["10s"],
    max_runs: [1],
    max_attempts: [2],
    page_size: [10],
    events: [[{ type: "progress", data: { step: 1 } }]],
    type: ["progress"],
    data: [{ step: 1 }],
    service: ["", "runline.v1.RunsService"],
    list_services: [""],
    file_containing_symbol: ["runline.v1.RunsService"],
    host: [""],
    run: [createRun],
    requests: [[createRun]],
    template: [createRun],
    inputs: [[{ n: 1 }]],
    open: [{ workerId: "hostile-worker", workflows: ["hostile"] }],
    error: [{ message: "hostile", code: "E1" }],
    retryable: [true],
    after_sequence: ["0"],
    status: [["RUN_STATUS_QUEUED"]],
  };
  return {
    keys: { root: testRootKey, full: tenant.key, worker, read },
    probeRunId: probe!.id,
    valid: (field: DescField) => {
      const values = byName[field.name] ?? [];
      // The same name means different things in different messages: keep only values of the field's JSON shape.
      if (field.fieldKind === "list") return values.filter(Array.isArray);
      const isObject = (value: JsonValue) => typeof value === "object" && value !== null && !Array.isArray(value);
      if (field.fieldKind === "map") return values.filter(isObject);
      // A message of ours is a JSON object (well-known types also take strings: "5s", a Value).
      if (field.fieldKind === "message" && !field.message.typeName.startsWith("google.protobuf.")) return values.filter(isObject);
      if (field.fieldKind === "scalar" || field.fieldKind === "enum")
        return values.filter((value) => !isObject(value) && !Array.isArray(value));
      return values.filter((value) => !Array.isArray(value) || field.fieldKind === "message");
    },
  };
}
