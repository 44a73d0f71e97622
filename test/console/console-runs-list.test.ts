/**
 * The console's runs list and a run's webhook deliveries, in a real Chromium: filters by
 * status, workflow and labels; keyset paging forward and back with the API's page
 * tokens; a new run appearing without a reload; deliveries as the server recorded them;
 * a long run's page keeping only its newest events.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json } from "../support/clients.js";
import { chromiumSkipReason, chromiumSuiteName, launchChromium } from "../support/browser.js";
import { openConsolePage, signIn, startConsoleServer, waitForStatus, type ConsoleServer } from "../support/console-page.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";

let server: ConsoleServer;
let browser: Browser;
let page: Page;
let receiver: WebhookReceiver;

/** Applies the list's filters: `statuses` ticked, the rest typed in. */
async function filterRuns(filters: { statuses?: string[]; workflow?: string; labels?: string }): Promise<void> {
  const form = page.getByRole("search", { name: "Filter runs" });
  await form.getByRole("button", { name: "Clear filters" }).click();
  for (const status of filters.statuses ?? []) await form.getByLabel(status, { exact: true }).check();
  await form.getByLabel("Workflow (id or slug)").fill(filters.workflow ?? "");
  await form.getByLabel(/^Labels/).fill(filters.labels ?? "");
  await form.getByRole("button", { name: "Apply filters" }).click();
}

/** The run ids the table shows, in order (waits for `count` rows when given). */
async function shownRunIds(count?: number): Promise<string[]> {
  const links = page.locator("table.runs tbody a[data-run-id]");
  if (count !== undefined) await expect.poll(() => links.count(), { timeout: 15_000 }).toBe(count);
  return links.evaluateAll((anchors) => anchors.map((anchor) => anchor.getAttribute("data-run-id") ?? ""));
}

describe.skipIf(chromiumSkipReason() !== undefined)(chromiumSuiteName("the console's runs list and run pages in Chromium"), () => {
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    [server, browser] = await Promise.all([startConsoleServer({ RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32" }), launchChromium()]);
    page = (await openConsolePage(browser)).page;
    await signIn(page, server.url, server.key);
  });

  afterAll(() => receiver?.close());

  it("filters by status, workflow and labels", async () => {
    const done = async (team: string) =>
      (await server.runs.runAndWait({ run: { workflow: "echo", input: json({ team }), labels: { team } }, waitTimeout: { seconds: 20n } }))
        .run!.id;
    const teamA = [await done("a"), await done("a")];
    await done("b");
    const { run: sleeping } = await server.runs.createRun({
      workflow: "sleep",
      input: json({ seconds: 120, steps: 120 }),
      labels: { team: "a" },
    });
    await filterRuns({ workflow: "echo", labels: "team=a" });
    expect(new Set(await shownRunIds(2))).toEqual(new Set(teamA));
    await filterRuns({ statuses: ["QUEUED", "RUNNING"], labels: "team=a" });
    expect(await shownRunIds(1)).toEqual([sleeping!.id]);
    await filterRuns({ statuses: ["SUCCEEDED"], workflow: "sleep" });
    await page.getByRole("cell", { name: "No runs match these filters." }).waitFor();
    await server.runs.cancelRun({ runId: sleeping!.id });
  });

  it("pages forward and back with page tokens, 20 runs a page", async () => {
    const inputs = Array.from({ length: 25 }, (_, index) => json({ index }));
    await server.runs.batchCreateRuns({ template: { workflow: "echo", labels: { batch: "paging" } }, inputs });
    // The pages as the API itself gives them (runs created in one batch share a create time).
    const first = await server.runs.listRuns({ labels: { batch: "paging" }, pageSize: 20 });
    const second = await server.runs.listRuns({ labels: { batch: "paging" }, pageSize: 20, pageToken: first.nextPageToken });
    const newestFirst = [...first.runs, ...second.runs].map((run) => run.id);
    expect(newestFirst).toHaveLength(25);
    await filterRuns({ labels: "batch=paging" });
    const previous = page.getByRole("button", { name: "Previous page" });
    const next = page.getByRole("button", { name: "Next page" });
    expect(await shownRunIds(20)).toEqual(newestFirst.slice(0, 20));
    expect(await previous.isDisabled()).toBe(true);
    await next.click();
    expect(await shownRunIds(5)).toEqual(newestFirst.slice(20));
    await expect.poll(() => next.isDisabled()).toBe(true);
    await expect.poll(() => page.locator("table.runs caption").textContent()).toBe("Runs, newest first: page 2");
    await previous.click();
    expect(await shownRunIds(20)).toEqual(newestFirst.slice(0, 20));
  });

  it("shows a new run within seconds, without a reload (the page is re-read every 3 s)", async () => {
    const before = await shownRunIds(20);
    const started = performance.now();
    const { run } = await server.runs.createRun({ workflow: "echo", input: json({ late: true }), labels: { batch: "paging" } });
    await expect.poll(async () => (await shownRunIds())[0], { timeout: 15_000, interval: 100 }).toBe(run!.id);
    const shownAfterMs = Math.round(performance.now() - started);
    console.info(`a new run was listed ${shownAfterMs} ms after CreateRun returned (refresh every 3000 ms)`);
    expect(shownAfterMs).toBeLessThan(10_000);
    expect((await shownRunIds(20)).slice(1)).toEqual(before.slice(0, 19));
  });

  it("shows a run's webhook deliveries with their outcome and last answer", async () => {
    const { run } = await server.runs.createRun({ workflow: "echo", input: json({ hook: true }), webhook: { url: receiver.url("/hook") } });
    await page.goto(`${server.url}/console/#/runs/${run!.id}`);
    await waitForStatus(page, "SUCCEEDED");
    await receiver.waitFor("run.succeeded", (received) => received.some((request) => request.runId === run!.id), 15_000);
    const table = page.locator("table.deliveries");
    await expect
      .poll(
        async () => {
          if ((await table.count()) === 0) await page.getByRole("button", { name: "Refresh deliveries" }).click();
          return table
            .locator("tbody tr")
            .first()
            .textContent({ timeout: 1000 })
            .catch(() => "");
        },
        { timeout: 15_000, interval: 500 },
      )
      .toContain("SUCCEEDED");
    const cells = await table.locator("tbody tr").first().locator("td").allTextContents();
    expect(cells.slice(0, 4)).toEqual(["run.succeeded", receiver.url("/hook"), "SUCCEEDED", "HTTP 204 (1 attempt)"]);
  });

  it("keeps the newest 500 events of a long run on its page, and says so", async () => {
    await server.workflows.createWorkflow({ slug: "manual", definition: json({ kind: "no executor" }) });
    const { run } = await server.runs.createRun({ workflow: "manual", input: json({}) });
    await page.goto(`${server.url}/console/#/runs/${run!.id}`);
    await waitForStatus(page, "QUEUED");
    const events = Array.from({ length: 600 }, (_, index) => ({ type: "note", data: json({ index }) }));
    await server.runs.ingestRunEvents({ runId: run!.id, events });
    const rows = page.locator("table.events tbody tr");
    await expect.poll(() => rows.last().locator("td").first().textContent(), { timeout: 15_000 }).toBe("601");
    expect(await rows.count()).toBe(500);
    expect(await rows.first().locator("td").first().textContent()).toBe("102");
    await page.getByText("Only the newest 500 events are shown.").waitFor();
    await server.runs.cancelRun({ runId: run!.id });
  });
});
