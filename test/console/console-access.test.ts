/**
 * The console's keyboard and screen-reader basics, and its errors, in a real Chromium:
 * every control has a label, the keyboard alone signs in and moves between pages (focus
 * lands on each page's heading), focus is visible, text meets WCAG AA contrast, and a
 * refusal shows the API's own message in the alert region. A person may sign in with an
 * access token instead of a key, and sees what the token allows; when it expires, the
 * console asks to sign in again.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Browser, Page } from "playwright-core";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { beforeAll, describe, expect, it } from "vitest";
import { mintToken } from "../support/access-tokens.js";
import { json } from "../support/clients.js";
import { chromiumSkipReason, chromiumSuiteName, launchChromium } from "../support/browser.js";
import {
  contrastRatio,
  openConsolePage,
  signIn,
  startConsoleServer,
  textColours,
  unlabelledControls,
  waitForStatus,
  type ConsoleServer,
} from "../support/console-page.js";

let server: ConsoleServer;
let browser: Browser;

/** The accessible name of the focused element, as Playwright's ARIA snapshot gives it. */
async function focusedName(page: Page): Promise<string> {
  return page.locator("*:focus").ariaSnapshot();
}

describe.skipIf(chromiumSkipReason() !== undefined)(chromiumSuiteName("the console's accessibility in Chromium"), () => {
  beforeAll(async () => {
    [server, browser] = await Promise.all([startConsoleServer(), launchChromium()]);
  });

  it("signs in and changes page from the keyboard alone, focus landing on each page's heading", async () => {
    const { page } = await openConsolePage(browser);
    await page.goto(`${server.url}/console/`);
    await page.keyboard.press("Tab");
    expect(await focusedName(page)).toContain("Skip to content");
    await page.keyboard.press("Tab");
    expect(await focusedName(page)).toContain("API key or access token");
    await page.keyboard.type(server.key);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Runs" }).waitFor();
    expect(await focusedName(page)).toContain('heading "Runs"');
    // Back from the heading: the sign-out button, then the navigation's last link.
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Shift+Tab");
    expect(await focusedName(page)).toContain('link "Start a run"');
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Start a run" }).waitFor();
    expect(await focusedName(page)).toContain('heading "Start a run"');
    await page.keyboard.press("Tab");
    expect(await focusedName(page)).toContain('combobox "Workflow"');
  });

  it("labels every control: list, filters, start form, run page and resume form", async () => {
    const { page } = await openConsolePage(browser);
    await page.goto(`${server.url}/console/`);
    expect(await unlabelledControls(page)).toEqual([]);
    await signIn(page, server.url, server.key);
    expect(await unlabelledControls(page)).toEqual([]);
    await page.getByRole("link", { name: "Start a run" }).click();
    await page.getByLabel("Workflow", { exact: true }).selectOption("sleep");
    await page.getByLabel("seconds").waitFor();
    expect(await unlabelledControls(page)).toEqual([]);
    await page.getByLabel("Type the input as raw JSON").check();
    expect(await unlabelledControls(page)).toEqual([]);
    const { run } = await server.runs.createRun({ workflow: "approval", input: json({ request: "labels" }) });
    await page.goto(`${server.url}/console/#/runs/${run!.id}`);
    await waitForStatus(page, "INTERRUPTED");
    await page.getByRole("form", { name: "Resume the run" }).waitFor();
    expect(await unlabelledControls(page)).toEqual([]);
  });

  it("shows where the focus is, and its text meets WCAG AA contrast (4.5:1)", async () => {
    const { page } = await openConsolePage(browser);
    await signIn(page, server.url, server.key);
    const { run } = await server.runs.runAndWait({
      run: { workflow: "echo", input: json({ contrast: true }) },
      waitTimeout: { seconds: 20n },
    });
    await page.goto(`${server.url}/console/#/runs/${run!.id}`);
    await waitForStatus(page, "SUCCEEDED");
    await page.getByRole("button", { name: "Rerun" }).focus();
    await page.keyboard.press("Tab");
    const outline = await page.locator("*:focus").evaluate((element) => {
      const style = (
        globalThis as unknown as { getComputedStyle(target: unknown): { outlineStyle: string; outlineWidth: string } }
      ).getComputedStyle(element);
      return `${style.outlineStyle} ${style.outlineWidth}`;
    });
    expect(outline).toBe("solid 3px");
    // Samples from the run page (a disabled button among them), the list and the start form.
    const textSelector = "h1, h2, label, legend, dt, dd, td, th, p, a, button, .status, .hint, summary, caption";
    const samples = await textColours(page, textSelector);
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    await page.locator("table.runs tbody a").first().waitFor();
    samples.push(...(await textColours(page, textSelector)));
    await page.getByRole("link", { name: "Start a run" }).click();
    await page.getByLabel("Workflow", { exact: true }).selectOption("sleep");
    await page.getByLabel("seconds").waitFor();
    samples.push(...(await textColours(page, textSelector)));
    expect(samples.length).toBeGreaterThan(100);
    const rated = samples.map((sample) => ({ ...sample, ratio: contrastRatio(sample.color, sample.background) }));
    console.info(
      `contrast: ${rated.length} text samples, the lowest ratio ${Math.min(...rated.map((sample) => sample.ratio)).toFixed(2)}:1`,
    );
    expect(rated.filter((sample) => sample.ratio < 4.5)).toEqual([]);
  });

  it("shows the API's own message when it refuses to start a run", async () => {
    const { page } = await openConsolePage(browser);
    await signIn(page, server.url, server.key);
    const refused = await server.runs
      .createRun({ workflow: "sleep", input: json({ seconds: "soon" }) })
      .catch((error: unknown) => ConnectError.from(error));
    expect(refused instanceof ConnectError && refused.code).toBe(Code.InvalidArgument);
    await page.getByRole("link", { name: "Start a run" }).click();
    await page.getByLabel("Workflow", { exact: true }).selectOption("sleep");
    await page.getByLabel("seconds").waitFor();
    await page.getByLabel("Type the input as raw JSON").check();
    await page.getByLabel("Input (JSON)").fill('{"seconds": "soon"}');
    await page.getByRole("button", { name: "Start run" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toBe(`invalid_argument: ${(refused as ConnectError).rawMessage}`);
    expect(page.url()).toMatch(/#\/start$/);
  });

  it("signs in with a label-restricted read token, lists only its runs, and asks again when it expires", async () => {
    const settled = { seconds: 20n, nanos: 0 };
    const mine = await server.runs.runAndWait({
      run: { workflow: "echo", input: json({}), labels: { desk: "mine" } },
      waitTimeout: settled,
    });
    const other = await server.runs.runAndWait({
      run: { workflow: "echo", input: json({}), labels: { desk: "other" } },
      waitTimeout: settled,
    });
    const { token } = await mintToken(server.url, server.key, { scopes: [Scope.READ], labels: { desk: "mine" }, ttl: { seconds: 6n } });
    const { page } = await openConsolePage(browser);
    await signIn(page, server.url, token);
    await expect.poll(() => page.locator("table.runs tbody a[data-run-id]").allTextContents()).toEqual([mine.run!.id]);
    await page.goto(`${server.url}/console/#/runs/${other.run!.id}`);
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/^not_found: /);
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    // The list is re-read every 3 s: the first read after the expiry is refused and signs out.
    await page.getByRole("heading", { level: 1, name: "Sign in to the Runline console" }).waitFor({ timeout: 20_000 });
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/^unauthenticated: /);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });
});
