/**
 * `redocly lint` (the CLI from node_modules, with the committed redocly.yaml: the
 * recommended rules, warnings as errors) on the document a live server serves at
 * `/openapi.json`: no errors, no warnings, nothing ignored. The served document is the
 * generated gen/openapi/runline.openapi.json byte for byte, so CI's `redocly lint` of
 * that file (.ci/run) judges what users fetch. And the same config fails documents with
 * the faults the linter once found (no servers, no license, no 4xx responses).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OpenApiDocument } from "../../src/openapi/openapi-types.js";
import { startTestServer } from "../support/test-server.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const redoclyCli = path.join(root, "node_modules/@redocly/cli/bin/cli.js");
const generatedFile = path.join(root, "gen/openapi/runline.openapi.json");

/** What `redocly lint --format=json` reports. */
interface LintReport {
  readonly exitCode: number;
  readonly totals: { readonly errors: number; readonly warnings: number; readonly ignored: number };
  readonly rules: readonly string[];
}

let directory: string;
let served: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(tmpdir(), "runline-redocly-"));
  const { url } = await startTestServer();
  const response = await fetch(`${url}/openapi.json`);
  expect(response.status).toBe(200);
  served = await response.text();
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** Lints `document` as the file `name` with redocly.yaml, the way CI does. */
async function lint(name: string, document: string): Promise<LintReport> {
  const file = path.join(directory, name);
  await writeFile(file, document);
  const args = [redoclyCli, "lint", "--config", path.join(root, "redocly.yaml"), "--format=json", file];
  // No telemetry or update checks: tests, like CI, reach nothing beyond loopback.
  const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_NOTIFICATIONS: "true" };
  const { exitCode, stdout } = await new Promise<{ exitCode: number; stdout: string }>((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root, env, maxBuffer: 64 * 1024 * 1024 }, (error, out) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      if (code === -1) reject(error ?? new Error("redocly did not run"));
      else resolve({ exitCode: code, stdout: out });
    });
  });
  const report = JSON.parse(stdout) as { totals: LintReport["totals"]; problems: { ruleId: string }[] };
  return { exitCode, totals: report.totals, rules: [...new Set(report.problems.map((problem) => problem.ruleId))].sort() };
}

describe("redocly lint on the served /openapi.json", () => {
  it("serves the generated document byte for byte, so linting either judges the same", async () => {
    const generated = await readFile(generatedFile, "utf8");
    expect(served).toBe(JSON.stringify(JSON.parse(generated)));
  });

  it("reports no error and no warning, and ignores nothing", async () => {
    const report = await lint("served.openapi.json", served);
    expect(report.rules).toEqual([]);
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
    expect(report.exitCode).toBe(0);
  });

  it("fails a document without servers, license or 4xx responses, naming each rule", async () => {
    const broken = JSON.parse(served) as OpenApiDocument;
    delete broken.servers;
    delete broken.info.license;
    const getRun = broken.paths["/api/v1/runs/{run_id}"]?.get;
    if (getRun === undefined) throw new Error("GetRun is not in the document");
    for (const status of Object.keys(getRun.responses)) if (status.startsWith("4")) delete getRun.responses[status];
    const report = await lint("broken.openapi.json", JSON.stringify(broken));
    expect(report.rules).toEqual(["info-license", "no-empty-servers", "operation-4xx-response"]);
    expect(report.totals.errors).toBe(3);
    expect(report.exitCode).toBe(1);
  });
});
