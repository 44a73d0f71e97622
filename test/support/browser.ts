/**
 * Debian's Chromium driven by playwright-core, for the tests that need a real browser
 * (test/browser/, test/console/). Browsers are never downloaded: the tests use
 * /usr/bin/chromium or nothing. A machine without it skips them and says so in their
 * names; CI never may: under CI=true a missing Chromium fails them (.ci/run installs it).
 *
 * No process outlives its test file: the browser is closed after the file, and Chromium,
 * driven over a pipe, exits by itself when the pipe closes, so a test process killed with
 * SIGKILL leaves none either (test/browser/harness.test.ts proves both for Chromium's
 * process tree; its two crashpad handlers, reparented to init and so outside that tree,
 * were seen to exit within 3 s of a SIGKILL too).
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type LaunchOptions } from "playwright-core";
import { afterAll } from "vitest";

/** Where Debian's package puts Chromium. */
export const chromiumPath = "/usr/bin/chromium";

/**
 * How the tests launch it. Headless; `--no-sandbox` because CI runs as root, where
 * Chromium's sandbox refuses to start.
 */
export const chromiumLaunchOptions = { executablePath: chromiumPath, headless: true, args: ["--no-sandbox"] } satisfies LaunchOptions;

/**
 * Why the browser tests are skipped here, or undefined when they run: always under
 * CI=true, where a missing Chromium must fail them rather than pass them unseen.
 */
export function chromiumSkipReason(path = chromiumPath, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (existsSync(path) || env.CI === "true") return undefined;
  return `skipped: ${path} is missing (apt-get install chromium; under CI=true this fails instead)`;
}

/** A suite name with the skip reason, if any, in it: the report then says why it did not run. */
export function chromiumSuiteName(name: string): string {
  const reason = chromiumSkipReason();
  return reason === undefined ? name : `${name} (${reason})`;
}

/** Headless Chromium, closed after the file. */
export async function launchChromium(): Promise<Browser> {
  const browser = await chromium.launch(chromiumLaunchOptions);
  afterAll(() => browser.close());
  return browser;
}
