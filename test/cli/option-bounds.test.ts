/**
 * Duration options hold to the bounds their help states: a value past the limit is a
 * usage error (exit 2) naming the option and the limit, refused before any call, not
 * quietly shortened by the server.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { TenantFixture } from "../support/clients.js";
import { cliTenant } from "./cli-tenant.js";
import { runCli } from "./run-cli.js";

let tenant: TenantFixture;
let asTenant: Record<string, string>;

beforeAll(async () => {
  ({ tenant, env: asTenant } = await cliTenant({ counter: true }));
});

describe("duration options", () => {
  it("runs create --wait: at most 5m, as its help says, and more than 0; nothing is created", async () => {
    const [help, tooLong, zero] = await Promise.all([
      runCli(["runs", "create", "--help"]),
      runCli(["runs", "create", "counter", "--input", '{"n":1}', "--label", "bounds=yes", "--wait", "10m"], asTenant),
      runCli(["runs", "create", "counter", "--input", '{"n":1}', "--label", "bounds=yes", "--wait", "0s"], asTenant),
    ]);
    expect(help.stdout).toMatch(/--wait <duration> +wait up to this long \(at most 5m\)/);
    expect(tooLong).toMatchObject({ code: 2, stdout: "" });
    expect(tooLong.stderr).toBe(
      "runline: usage: --wait: 10m is more than the limit of 5m\nusage: runline runs create <workflow> [options]\n",
    );
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/^runline: usage: --wait: must be longer than 0, got "0s"\n/);
    const { runs } = await tenant.runs().listRuns({ labels: { bounds: "yes" } });
    expect(runs).toEqual([]);
  });

  it("workflows create --timeout: at most 366d (RunDefaults' limit) and more than 0", async () => {
    const [help, tooLong, zero] = await Promise.all([
      runCli(["workflows", "create", "--help"]),
      runCli(["workflows", "create", "slow", "--definition", "{}", "--timeout", "367d"], asTenant),
      runCli(["workflows", "create", "slow", "--definition", "{}", "--timeout", "0ms"], asTenant),
    ]);
    expect(help.stdout).toContain("(at most 366d)");
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/^runline: usage: --timeout: 367d is more than the limit of 366d\n/);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/^runline: usage: --timeout: must be longer than 0/);
    const created = await runCli(["workflows", "create", "slow", "--definition", "{}", "--timeout", "366d"], asTenant);
    expect(created.code, created.stderr).toBe(0);
  });
});
