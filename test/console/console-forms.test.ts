/**
 * Forms generated from JSON Schema, in a real Chromium: each kind of property becomes the
 * control it should (text, number with its bounds, checkbox, select for an enum, JSON
 * for nested values), required ones are marked and enforced by the browser before any
 * call, and what is submitted is exactly the JSON the fields hold.
 */
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { Browser, Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { json } from "../support/clients.js";
import { chromiumSkipReason, chromiumSuiteName, launchChromium } from "../support/browser.js";
import { openConsolePage, runIdOf, signIn, startConsoleServer, type ConsoleServer } from "../support/console-page.js";

let server: ConsoleServer;
let browser: Browser;
let page: Page;

const inputSchema = {
  type: "object",
  required: ["name", "size", "tier"],
  properties: {
    name: { type: "string", minLength: 2, description: "Who asks" },
    size: { type: "integer", minimum: 1, maximum: 9 },
    ratio: { type: "number" },
    tier: { enum: ["gold", "silver"] },
    urgent: { type: "boolean", default: true },
    tags: { type: "array", items: { type: "string" } },
  },
};

/** The start form of the `forms` workflow, freshly opened. */
async function openForm(): Promise<void> {
  await page.goto(`${server.url}/console/#/start`);
  await page.getByLabel("Workflow", { exact: true }).selectOption("forms");
  await page.getByRole("group", { name: /^Input of forms/ }).waitFor();
}

describe.skipIf(chromiumSkipReason() !== undefined)(chromiumSuiteName("the console's generated forms in Chromium"), () => {
  beforeAll(async () => {
    [server, browser] = await Promise.all([startConsoleServer(), launchChromium()]);
    // No executor serves `forms`: its runs stay QUEUED, which is all these tests need.
    await server.workflows.createWorkflow({ slug: "forms", definition: json({}), inputSchema: json(inputSchema) });
    page = (await openConsolePage(browser)).page;
    await signIn(page, server.url, server.key);
  });

  it("makes one labelled control per property, of the right kind, with the schema's bounds", async () => {
    await openForm();
    const name = page.getByLabel("name");
    expect(await name.getAttribute("type")).toBe("text");
    expect(await name.getAttribute("minlength")).toBe("2");
    expect(await name.evaluate((input) => input.hasAttribute("required"))).toBe(true);
    // The description is tied to the control, so a screen reader reads it with the label.
    expect(await page.locator(`#${await name.getAttribute("aria-describedby")}`).textContent()).toBe("Who asks");
    const size = page.getByLabel("size");
    expect([
      await size.getAttribute("type"),
      await size.getAttribute("step"),
      await size.getAttribute("min"),
      await size.getAttribute("max"),
    ]).toEqual(["number", "1", "1", "9"]);
    expect(await page.getByLabel("ratio").getAttribute("step")).toBe("any");
    expect(await page.getByLabel("tier").locator("option").allTextContents()).toEqual(["gold", "silver"]);
    expect(await page.getByLabel("urgent").isChecked()).toBe(true);
    expect(await page.getByLabel("tags").evaluate((element) => element.tagName)).toBe("TEXTAREA");
    const requiredMarks = await page.locator("label:has(.required)").allTextContents();
    expect(requiredMarks).toEqual(["name (required)", "size (required)", "tier (required)"]);
  });

  it("lets the browser refuse a missing or out-of-bounds field before any call", async () => {
    await openForm();
    await page.getByRole("button", { name: "Start run" }).click();
    expect(await page.getByLabel("name").evaluate((input) => (input as unknown as { validity: { valid: boolean } }).validity.valid)).toBe(
      false,
    );
    await page.getByLabel("name").fill("Al");
    await page.getByLabel("size").fill("12");
    await page.getByRole("button", { name: "Start run" }).click();
    expect(await page.getByLabel("size").evaluate((input) => (input as unknown as { validity: { valid: boolean } }).validity.valid)).toBe(
      false,
    );
    expect(page.url()).toMatch(/#\/start$/);
    expect((await server.runs.listRuns({ workflow: "forms" })).runs).toEqual([]);
  });

  it("submits exactly the JSON the fields hold, leaving empty optional ones out", async () => {
    await openForm();
    await page.getByLabel("name").fill("Al");
    await page.getByLabel("size").fill("3");
    await page.getByLabel("tier").selectOption("silver");
    await page.getByLabel("tags").fill("not json");
    await page.getByRole("button", { name: "Start run" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toBe("tags: not valid JSON");
    await page.getByLabel("tags").fill('["a", "b"]');
    await page.getByLabel(/^Labels/).fill("source=console");
    await page.getByRole("button", { name: "Start run" }).click();
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    const { run } = await server.runs.getRun({ runId: runIdOf(page) });
    expect(toJson(ValueSchema, run!.input!)).toEqual({ name: "Al", size: 3, tier: "silver", urgent: true, tags: ["a", "b"] });
    expect(run!.labels).toEqual({ source: "console" });
    await server.runs.cancelRun({ runId: run!.id });
  });
});
