/**
 * The console flow in a real Chromium (issue 15, point 5): sign in, start a `sleep` run
 * from its workflow form and watch it progress live over gRPC-web, approve an `approval`
 * run through the form generated from its resume schema, cancel one, rerun one, delete
 * one, sign out. A screenshot of a run page is written to test-results/.
 */
import { mkdir } from "node:fs/promises";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { json } from "../support/clients.js";
import { chromiumSkipReason, chromiumSuiteName, launchChromium } from "../support/browser.js";
import {
  openConsolePage,
  recordProgressArrivals,
  runIdOf,
  signIn,
  startConsoleServer,
  startRunFromForm,
  waitForLiveProgress,
  waitForStatus,
  type ConsolePage,
  type ConsoleServer,
} from "../support/console-page.js";

let server: ConsoleServer;
let browser: Browser;
let opened: ConsolePage;
let page: Page;
/** The sleep run started from the form, rerun later. */
let sleepRunId: string;

describe.skipIf(chromiumSkipReason() !== undefined)(chromiumSuiteName("the console in Chromium"), () => {
  beforeAll(async () => {
    [server, browser] = await Promise.all([startConsoleServer(), launchChromium()]);
    opened = await openConsolePage(browser);
    page = opened.page;
  });

  afterAll(() => {
    if (opened === undefined) return; // beforeAll failed and said why
    // Whatever the tests did, the page never threw and the CSP never had to block anything.
    expect(opened.pageErrors).toEqual([]);
    expect(opened.consoleErrors.filter((message) => /Content.Security.Policy/i.test(message))).toEqual([]);
  });

  it("refuses a wrong key with the API's message, then signs in; the key stays out of the URL", async () => {
    await page.goto(`${server.url}/console/`);
    await page.getByLabel("API key or access token").fill("not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/^unauthenticated: /);
    await signIn(page, server.url, server.key);
    expect(page.url()).not.toContain(server.key);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([server.key]);
    expect(await page.evaluate(() => Object.keys(localStorage))).toEqual([]);
  });

  it("starts a sleep run from the workflow form and shows its progress live, as a bar", async () => {
    sleepRunId = await startRunFromForm(page, "sleep", async () => {
      await page.getByLabel("seconds").fill("4");
      await page.getByLabel("steps").fill("4");
    });
    // Live: the bar stands between empty and full while the run is still RUNNING.
    await waitForLiveProgress(page);
    const arrivals = await recordProgressArrivals(page);
    await waitForStatus(page, "SUCCEEDED");
    expect(await page.locator("progress").getAttribute("value")).toBe("1");
    await expect.poll(() => page.locator(".progress-text").textContent()).toBe("100%: step 4 of 4");
    const timeline = await page.locator(".timeline li .status").allTextContents();
    expect(timeline).toEqual(["QUEUED", "RUNNING", "SUCCEEDED"]);
    await expect.poll(() => page.locator(".output pre").textContent()).toContain('"sleptSeconds": 4');
    const lags = await arrivals();
    expect(lags.length).toBeGreaterThan(0);
    // Generous: a progress event on screen within 2 s of the server storing it (2 shared cores).
    expect(Math.max(...lags)).toBeLessThan(2000);
    console.info(`progress events on screen after ${lags.join(", ")} ms (server stored → row drawn)`);
    await mkdir("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/console-run-page.png", fullPage: true });
  });

  it("approves an approval run through the form generated from its resume schema", async () => {
    const runId = await startRunFromForm(page, "approval", async () => {
      await page.getByLabel("request").fill("deploy v2");
    });
    await waitForStatus(page, "INTERRUPTED");
    const form = page.getByRole("form", { name: "Resume the run" });
    await form.getByLabel("approved").check();
    await form.getByLabel("comment").fill("ship it");
    await form.getByRole("button", { name: "Resume run" }).click();
    await waitForStatus(page, "SUCCEEDED");
    const { output } = await server.runs.getRunOutput({ runId });
    expect(toJson(ValueSchema, output!.outcome.value as never)).toEqual({ approved: true, comment: "ship it" });
    await expect(form.count()).resolves.toBe(0);
  });

  it("cancels a running run", async () => {
    const { run } = await server.runs.createRun({ workflow: "sleep", input: json({ seconds: 120, steps: 120 }) });
    await page.goto(`${server.url}/console/#/runs/${run!.id}`);
    await waitForStatus(page, "RUNNING");
    await page.getByRole("button", { name: "Cancel run" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toMatch(/^Cancellation requested/);
    // The demo executor heartbeats every 2 s; CANCELLED once it has stopped.
    await waitForStatus(page, "CANCELLED");
    expect(await page.getByRole("button", { name: "Cancel run" }).isDisabled()).toBe(true);
    expect((await server.runs.getRun({ runId: run!.id })).run!.status).toBe(RunStatus.CANCELLED);
  });

  it("reruns a finished run: a new run of the same input, linked to the original", async () => {
    await page.goto(`${server.url}/console/#/runs/${sleepRunId}`);
    await waitForStatus(page, "SUCCEEDED");
    await page.getByRole("button", { name: "Rerun" }).click();
    await page.waitForURL((url) => !url.hash.endsWith(sleepRunId));
    const rerunId = runIdOf(page);
    // The summary names the original as a link.
    await page.getByRole("definition").getByRole("link", { name: sleepRunId }).waitFor();
    await waitForStatus(page, "SUCCEEDED");
    const { run } = await server.runs.getRun({ runId: rerunId });
    expect(run!.rerunOf).toBe(sleepRunId);
    expect(toJson(ValueSchema, run!.input!)).toEqual({ seconds: 4, steps: 4 });
  });

  it("deletes a run after confirmation and goes back to the list", async () => {
    page.once("dialog", (dialog) => void dialog.accept());
    const runId = runIdOf(page);
    await page.getByRole("button", { name: "Delete run" }).click();
    await page.getByRole("heading", { level: 1, name: "Runs" }).waitFor();
    await expect.poll(() => page.getByRole("status").textContent()).toBe(`Run ${runId} deleted.`);
    const lookup = await server.runs.getRun({ runId }).catch((error: unknown) => ConnectError.from(error));
    expect(lookup instanceof ConnectError && lookup.code).toBe(Code.NotFound);
  });

  it("signs out: the credential is forgotten, a reload shows the sign-in page", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { level: 1, name: "Sign in to the Runline console" }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Sign in to the Runline console" }).waitFor();
  });
});
