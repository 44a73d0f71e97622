/**
 * The Chromium harness (test/support/browser.ts) itself: it says why browser tests are
 * skipped and never skips them under CI=true; it drives Debian's Chromium headless, with
 * pages on a second loopback origin (test/support/page-origin.ts); and no Chromium process
 * outlives the code that launched it, whether that code closes the browser or is killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it, onTestFinished } from "vitest";
import { chromiumLaunchOptions, chromiumPath, chromiumSkipReason, chromiumSuiteName, launchChromium } from "../support/browser.js";
import { eventually } from "../support/expectations.js";
import { startPageOrigin } from "../support/page-origin.js";

describe("the reason browser tests are skipped", () => {
  it("names the missing Chromium, and there is none with Chromium present or under CI=true", () => {
    expect(chromiumSkipReason("/nonexistent/chromium", {})).toBe(
      "skipped: /nonexistent/chromium is missing (apt-get install chromium; under CI=true this fails instead)",
    );
    expect(chromiumSkipReason("/nonexistent/chromium", { CI: "true" })).toBeUndefined();
    expect(chromiumSkipReason(process.execPath, {})).toBeUndefined();
  });
});

/** Every process's parent, from /proc. */
function parents(): Map<number, number> {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after its last ")".
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // Gone while we read.
    }
  }
  return parentOf;
}

/** The processes descending from `root`. */
function descendants(root: number): number[] {
  const parentOf = parents();
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    frontier = [...parentOf].filter(([, parent]) => frontier.includes(parent)).map(([pid]) => pid);
    found.push(...frontier);
  }
  return found;
}

/** Those of `pids` still running Chromium (a reused pid running something else does not count). */
function chromiumAlive(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("chromium");
    } catch {
      return false;
    }
  });
}

// A separate Node process that launches Chromium as the harness does, opens a page and
// says "ready"; a line on its stdin makes it close the browser and say "closed", staying
// alive until killed.
const driverScript = `
import { chromium } from "playwright-core";
const browser = await chromium.launch(JSON.parse(process.env.LAUNCH_OPTIONS));
await (await browser.newPage()).setContent("<p>driven</p>");
console.log("ready");
process.stdin.once("data", async () => { await browser.close(); console.log("closed"); });
setInterval(() => {}, 1000);
`;

/** A driver and a wait for a line it prints. */
interface Driver {
  readonly child: ChildProcess;
  printed(line: string): Promise<void>;
}

/** Starts the driver; resolves once it is ready. */
async function startDriver(): Promise<Driver> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", driverScript], {
    cwd: process.cwd(),
    env: { ...process.env, LAUNCH_OPTIONS: JSON.stringify(chromiumLaunchOptions) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  onTestFinished(() => void child.kill("SIGKILL"));
  let output = "";
  const exited = new Promise<never>((_resolve, reject) =>
    child.on("exit", (code) => reject(new Error(`the driver exited (${code}) after printing: ${output}`))),
  );
  exited.catch(() => {});
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const printed = async (line: string) => {
    const seen = eventually(30_000, `the driver to print "${line}"`, async () => (output.split("\n").includes(line) ? true : undefined));
    await Promise.race([seen, exited]);
  };
  await printed("ready");
  return { child, printed };
}

describe.skipIf(chromiumSkipReason() !== undefined)(chromiumSuiteName("Chromium driven by the harness"), () => {
  it("runs Debian's Chromium headless and loads a page from a second loopback origin", async () => {
    const pages = await startPageOrigin({ "/": "<!doctype html><title>Another origin</title><p>hello</p>" });
    const browser = await launchChromium();
    const page = await browser.newPage();
    const response = await page.goto(pages.url("/"));
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe("Another origin");
    expect(await page.evaluate("location.origin")).toBe(pages.origin);
    expect(await page.evaluate(() => navigator.userAgent)).toContain("HeadlessChrome/");
    expect(browser.version().split(".")[0]).toMatch(/^\d{3}$/);
    expect(chromiumLaunchOptions.executablePath).toBe(chromiumPath);
    const missing = await page.goto(pages.url("/nothing-here"));
    expect(missing?.status()).toBe(404);
  });

  it("leaves no Chromium process once the browser is closed", async () => {
    const driver = await startDriver();
    const launched = chromiumAlive(descendants(driver.child.pid!));
    expect(launched.length, "Chromium's processes under the driver").toBeGreaterThan(0);
    driver.child.stdin!.write("close\n");
    await driver.printed("closed");
    await eventually(10_000, "the closed browser's processes to end", async () =>
      chromiumAlive(launched).length === 0 ? true : undefined,
    );
    // The driver itself still runs: the processes ended because of close(), not its death.
    expect(driver.child.exitCode).toBeNull();
  });

  it("leaves no Chromium process when the code driving it is killed with SIGKILL", async () => {
    const driver = await startDriver();
    const launched = chromiumAlive(descendants(driver.child.pid!));
    expect(launched.length, "Chromium's processes under the driver").toBeGreaterThan(0);
    driver.child.kill("SIGKILL");
    await eventually(10_000, "Chromium to end with the pipe to its driver", async () =>
      chromiumAlive(launched).length === 0 ? true : undefined,
    );
  });
});
