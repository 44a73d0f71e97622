/**
 * The console in a real Chromium against a real server with the demo executor: a tenant
 * key for the `demo` tenant, a page that records what the browser complained about,
 * and the steps every console test repeats (sign in, open a run, read its status).
 * Controls are found by their accessible names, so a test also proves they are labelled.
 */
import { expect } from "vitest";
import type { Browser, Page } from "playwright-core";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import type { Client } from "@connectrpc/connect";
import { clientFor } from "./clients.js";
import { startTestServer, testRootKey } from "./test-server.js";

/** A server running the demo workflows, and a read+write key of its `demo` tenant. */
export interface ConsoleServer {
  readonly url: string;
  readonly key: string;
  /** The same tenant's runs and workflows over gRPC, to set up and check what the page does. */
  readonly runs: Client<typeof RunsService>;
  readonly workflows: Client<typeof WorkflowsService>;
}

/** Starts a server with the demo executor; `env` adds to the test server's environment. */
export async function startConsoleServer(env: Record<string, string> = {}): Promise<ConsoleServer> {
  const server = await startTestServer(undefined, { RUNLINE_DEMO_WORKER: "1", ...env });
  const admin = clientFor(AdminService, "connect-json", server.url, testRootKey);
  const { secret } = await admin.createApiKey({ tenant: "demo", scopes: [Scope.READ, Scope.WRITE] });
  return {
    url: server.url,
    key: secret,
    runs: clientFor(RunsService, "grpc", server.url, secret),
    workflows: clientFor(WorkflowsService, "grpc", server.url, secret),
  };
}

/** A page and what the browser said while it was open. */
export interface ConsolePage {
  readonly page: Page;
  /** Uncaught exceptions in the page. */
  readonly pageErrors: string[];
  /** Console messages of type error (CSP violations appear here). */
  readonly consoleErrors: string[];
}

/** A fresh page (own context: own sessionStorage) in `browser`. */
export async function openConsolePage(browser: Browser): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  return { page, pageErrors, consoleErrors };
}

/** Opens the console and signs in with `credential`; resolves on the runs list. */
export async function signIn(page: Page, baseUrl: string, credential: string): Promise<void> {
  await page.goto(`${baseUrl}/console/`);
  await page.getByLabel("API key or access token").fill(credential);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: "Runs" }).waitFor();
}

/** The run id in the page's address (`#/runs/<id>`). */
export function runIdOf(page: Page): string {
  const match = /#\/runs\/([0-9a-f-]{36})$/.exec(page.url());
  expect(match, `${page.url()} is not a run page`).not.toBeNull();
  return match![1]!;
}

/** Waits until the run page shows `status`. */
export async function waitForStatus(page: Page, status: string, timeoutMs = 30_000): Promise<void> {
  await page
    .getByTestId("run-status")
    .filter({ hasText: new RegExp(`^${status}$`) })
    .waitFor({ timeout: timeoutMs });
}

/** Starts a run of `workflow` from the console's form; `fill` fills the generated fields. Resolves on its page. */
export async function startRunFromForm(page: Page, workflow: string, fill: (page: Page) => Promise<void>): Promise<string> {
  await page.getByRole("link", { name: "Start a run" }).click();
  await page.getByLabel("Workflow", { exact: true }).selectOption(workflow);
  await page.getByRole("group", { name: new RegExp(`^Input of ${workflow}`) }).waitFor();
  await fill(page);
  await page.getByRole("button", { name: "Start run" }).click();
  await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
  return runIdOf(page);
}

/**
 * The few browser globals the in-page functions below use, typed here because the
 * tests' tsconfig has no DOM library (adding it would let server code use `document`).
 */
interface PageGlobals {
  document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageElement> };
  MutationObserver: new (callback: (records: { addedNodes: ArrayLike<PageElement> }[]) => void) => PageObserver;
  getComputedStyle(element: PageElement): { color: string; backgroundColor: string };
}
interface PageElement {
  readonly tagName: string;
  readonly textContent: string | null;
  readonly value?: number;
  readonly outerHTML: string;
  readonly parentElement: PageElement | null;
  readonly labels?: ArrayLike<unknown> | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  getAttribute(name: string): string | null;
}
interface PageObserver {
  observe(target: PageElement, options: { childList: boolean }): void;
  disconnect(): void;
}

/** Waits until the progress bar stands strictly between empty and full while the run is RUNNING. */
export async function waitForLiveProgress(page: Page, timeoutMs = 30_000): Promise<void> {
  const live = () => {
    const { document } = globalThis as unknown as PageGlobals;
    const value = document.querySelector("progress")?.value ?? 0;
    return value > 0 && value < 1 && document.querySelector("[data-testid=run-status]")?.textContent === "RUNNING";
  };
  await page.waitForFunction(live, undefined, { timeout: timeoutMs });
}

/**
 * From now on, how long after its `createTime` each progress event's row appears (the
 * browser and the server share this machine's clock); the returned function stops
 * recording and reads the lags, in ms.
 */
export async function recordProgressArrivals(page: Page): Promise<() => Promise<number[]>> {
  await page.evaluate(() => {
    const { document, MutationObserver } = globalThis as unknown as PageGlobals;
    const lags: number[] = [];
    const observer = new MutationObserver((records) => {
      for (const record of records)
        for (const row of Array.from(record.addedNodes)) {
          if (row.tagName !== "TR" || row.querySelectorAll("td")[2]?.textContent !== "progress") continue;
          lags.push(Date.now() - Date.parse(row.querySelector("time")?.getAttribute("datetime") ?? ""));
        }
    });
    observer.observe(document.querySelector("table.events tbody")!, { childList: true });
    Object.assign(globalThis, { progressLags: lags, progressObserver: observer });
  });
  return () =>
    page.evaluate(() => {
      const recorded = globalThis as unknown as { progressLags: number[]; progressObserver: PageObserver };
      recorded.progressObserver.disconnect();
      return recorded.progressLags;
    });
}

/** The form controls on the page that no `<label>` or `aria-label` names, as HTML. */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const { document } = globalThis as unknown as PageGlobals;
    return Array.from(document.querySelectorAll("input, select, textarea, button"))
      .filter((control) =>
        control.tagName === "BUTTON"
          ? (control.textContent ?? "").trim() === ""
          : (control.labels?.length ?? 0) === 0 && control.getAttribute("aria-label") === null,
      )
      .map((control) => control.outerHTML);
  });
}

/** Text colour and the colour behind it (the nearest opaque background) of each element matching `selector`. */
export function textColours(page: Page, selector: string): Promise<{ text: string; color: string; background: string }[]> {
  return page.evaluate((wanted) => {
    const { document, getComputedStyle } = globalThis as unknown as PageGlobals;
    return Array.from(document.querySelectorAll(wanted)).map((element) => {
      let behind: PageElement | null = element;
      let background = "rgba(0, 0, 0, 0)";
      while (behind !== null && /^rgba\(.*, 0\)$|^transparent$/.test(background)) {
        background = getComputedStyle(behind).backgroundColor;
        behind = behind.parentElement;
      }
      if (/^rgba\(.*, 0\)$/.test(background)) background = "rgb(255, 255, 255)";
      return { text: (element.textContent ?? "").trim().slice(0, 40), color: getComputedStyle(element).color, background };
    });
  }, selector);
}

/** The WCAG 2 contrast ratio of two `rgb(r, g, b)` colours. */
export function contrastRatio(first: string, second: string): number {
  const luminance = (colour: string): number => {
    const channels = (colour.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((value) => {
      const fraction = Number(value) / 255;
      return fraction <= 0.04045 ? fraction / 12.92 : ((fraction + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * channels[0]! + 0.7152 * channels[1]! + 0.0722 * channels[2]!;
  };
  const [lighter, darker] = [luminance(first), luminance(second)].sort((a, b) => b - a);
  return (lighter! + 0.05) / (darker! + 0.05);
}
