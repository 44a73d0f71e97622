/**
 * The fixture most CLI tests start from: a test server, a tenant on it, and the
 * environment that points the binary at that tenant (RUNLINE_SERVER, RUNLINE_API_KEY).
 */
import { createCounterWorkflow, createTenant, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

/** A tenant for CLI tests and the environment that makes `runline` act as it. */
export interface CliTenant {
  readonly server: string;
  readonly tenant: TenantFixture;
  readonly env: Record<string, string>;
}

/** Starts (or reuses) the test server and makes a tenant; with `counter`, its `counter` workflow too. */
export async function cliTenant(options: { counter?: boolean } = {}): Promise<CliTenant> {
  const server = (await startTestServer()).url;
  const tenant = await createTenant(server);
  if (options.counter === true) await createCounterWorkflow(tenant);
  return { server, tenant, env: { RUNLINE_SERVER: server, RUNLINE_API_KEY: tenant.key } };
}
