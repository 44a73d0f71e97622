/**
 * The cluster harness leaves nothing behind: after `stop()`, after a start that fails
 * part-way (the replicas up, HAProxy refusing its configuration), and when the process
 * that started it is killed with SIGKILL, no replica process is left on the test's
 * database and the balancer's port is closed. Replicas are found by
 * their environment (/proc/<pid>/environ holds the DATABASE_URL they were given).
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { balancerSkipReason, balancerSuiteName } from "../support/balancer-suite.js";
import { eventually } from "../support/expectations.js";
import { startHaproxyCluster } from "../support/haproxy-cluster.js";
import { startPeer } from "../support/peer-processes.js";
import { createTestDatabase } from "../support/test-database.js";
import { testRootKey } from "../support/test-server.js";

/** Processes whose environment holds `DATABASE_URL=<url>`. */
function processesOn(databaseUrl: string): number[] {
  const wanted = `DATABASE_URL=${databaseUrl}`;
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(wanted);
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    })
    .map(Number);
}

describe.skipIf(balancerSkipReason() !== undefined)(balancerSuiteName("The cluster harness"), () => {
  it("stops HAProxy and every replica, and closes the balancer's port", async () => {
    const databaseUrl = await createTestDatabase();
    const cluster = await startHaproxyCluster({ databaseUrl, rootKey: testRootKey, replicas: 2 });
    expect(processesOn(databaseUrl).sort()).toEqual(cluster.replicas.map((replica) => replica.pid).sort());
    expect((await fetch(`${cluster.url}/readyz`)).status).toBe(200);

    await cluster.stop();
    expect(processesOn(databaseUrl)).toEqual([]);
    const after = await fetch(`${cluster.url}/readyz`).then(
      (response) => `answered ${response.status}`,
      () => "refused",
    );
    expect(after).toBe("refused");
  });

  it("leaves nothing running when HAProxy refuses to start after the replicas did", async () => {
    const databaseUrl = await createTestDatabase();
    const starting = startHaproxyCluster({ databaseUrl, rootKey: testRootKey, replicas: 2, balancer: { frontendHost: "999.0.0.1" } });
    await expect(starting).rejects.toThrow(/haproxy exited at start/);
    expect(processesOn(databaseUrl)).toEqual([]);
  });

  it("leaves nothing running when the process that started it is killed with SIGKILL", async () => {
    const databaseUrl = await createTestDatabase();
    const peer = await startPeer("cluster-peer.ts", [databaseUrl, testRootKey], 60_000);
    const { url } = JSON.parse(await peer.line(/^\{/, 1000)) as { url: string };
    expect(processesOn(databaseUrl)).toHaveLength(2);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    await peer.kill();
    await eventually(10_000, "the replicas to be gone", async () => (processesOn(databaseUrl).length === 0 ? true : undefined));
    await eventually(10_000, "the balancer's port to close", () =>
      fetch(`${url}/readyz`).then(
        () => undefined,
        () => true,
      ),
    );
  });
});
