/**
 * Whether the tests through a real HAProxy can run here and, when not, a reason that goes
 * into their names. A machine without `haproxy` skips them, saying so; CI never may:
 * under CI=true a missing `haproxy` fails them (.ci/run installs it).
 */
import { createCounterWorkflow, createTenant, type TenantFixture } from "./clients.js";
import { findHaproxy, startHaproxyCluster, type HaproxyCluster } from "./haproxy-cluster.js";
import { createTestDatabase } from "./test-database.js";
import { testRootKey } from "./test-server.js";

/** Why the balancer tests are skipped here, or undefined when they run (always under CI=true). */
export function balancerSkipReason(): string | undefined {
  if (findHaproxy() !== undefined || process.env.CI === "true") return undefined;
  return "skipped: haproxy is not installed (apt-get install haproxy; under CI=true this fails instead)";
}

/** A suite name with the skip reason, if any, in it: the report then says why it did not run. */
export function balancerSuiteName(name: string): string {
  const reason = balancerSkipReason();
  return reason === undefined ? name : `${name} (${reason})`;
}

/**
 * A suite's cluster: three replicas on a fresh test database behind HAProxy checking every
 * 250 ms, and a tenant with the counter workflow on it. The suite stops the cluster.
 */
export async function startSuiteCluster(): Promise<{ cluster: HaproxyCluster; tenant: TenantFixture }> {
  const cluster = await startHaproxyCluster({
    databaseUrl: await createTestDatabase(),
    rootKey: testRootKey,
    balancer: { checkIntervalMs: 250 },
  });
  const tenant = await createTenant(cluster.url);
  await createCounterWorkflow(tenant);
  return { cluster, tenant };
}
