/**
 * Real clients over real sockets, one per protocol, and tenant fixtures. Tests that
 * must hold on every protocol loop over `protocols`.
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { fromJson, type DescService, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { testRootKey } from "./test-server.js";

/** The protocols every RPC is tested over. */
export const protocols = ["connect-json", "grpc", "grpc-web"] as const;
export type Protocol = (typeof protocols)[number];

/** Sends `key` as the bearer token (none when undefined). */
export function bearer(key: string | undefined): Interceptor {
  return (next) => (request) => {
    if (key !== undefined) request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
}

/** A transport of `protocol` to `baseUrl`, sending `key` as the bearer token. */
export function transportFor(protocol: Protocol, baseUrl: string, key: string | undefined): Transport {
  const interceptors = [bearer(key)];
  switch (protocol) {
    case "connect-json":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors });
    case "grpc":
      return createGrpcTransport({ baseUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors });
  }
}

/**
 * Connect, binary, over HTTP/2 to `baseUrl` with `key` as the bearer token: what the
 * bidirectional Work session needs. `interceptors` run after the bearer one.
 */
export function h2ConnectTransport(baseUrl: string, key: string, ...interceptors: Interceptor[]): Transport {
  return createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors: [bearer(key), ...interceptors] });
}

/** A typed client of `service`. */
export function clientFor<S extends DescService>(service: S, protocol: Protocol, baseUrl: string, key: string | undefined): Client<S> {
  return createClient(service, transportFor(protocol, baseUrl, key));
}

/** Everything a test needs to act as one tenant. */
export interface TenantFixture {
  readonly tenantId: string;
  readonly slug: string;
  /** A key with every scope. */
  readonly key: string;
  readonly keyId: string;
  runs(protocol?: Protocol): Client<typeof RunsService>;
  workflows(protocol?: Protocol): Client<typeof WorkflowsService>;
}

let counter = 0;

/** A JSON value as google.protobuf.Value. */
export function json(value: JsonValue): Value {
  return fromJson(ValueSchema, value);
}

/** Creates a tenant with an admin-scoped key through AdminService. */
export async function createTenant(baseUrl: string, scopes: Scope[] = [Scope.ADMIN]): Promise<TenantFixture> {
  const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
  const slug = `t${process.pid}-${Date.now().toString(36)}-${counter++}`;
  const { tenant } = await admin.createTenant({ slug });
  const created = await admin.createApiKey({ tenant: tenant!.id, scopes });
  return {
    tenantId: tenant!.id,
    slug,
    key: created.secret,
    keyId: created.apiKey!.id,
    runs: (protocol = "connect-json") => clientFor(RunsService, protocol, baseUrl, created.secret),
    workflows: (protocol = "connect-json") => clientFor(WorkflowsService, protocol, baseUrl, created.secret),
  };
}

/** A simple workflow whose input must be an object with an integer `n`. */
export async function createCounterWorkflow(tenant: TenantFixture, slug = "counter"): Promise<string> {
  const { workflow } = await tenant.workflows().createWorkflow({
    slug,
    definition: json({ kind: "counter" }),
    inputSchema: json({ type: "object", properties: { n: { type: "integer" } }, required: ["n"] }),
  });
  return workflow!.id;
}
