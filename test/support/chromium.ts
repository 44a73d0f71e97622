/**
 * Debian's Chromium driven by playwright-core, for the tests that need a real browser.
 * A machine without /usr/bin/chromium skips them and says so in their names; CI never
 * may: under CI=true a missing Chromium fails them (.ci/run installs it). Browsers are
 * never downloaded.
 */
import { existsSync } from "node:fs";
import { afterAll } from "vitest";
import { chromium, type Browser } from "playwright-core";

/** Where Debian's package puts Chromium. */
export const chromiumPath = "/usr/bin/chromium";

/** Why the browser tests are skipped here, or undefined when they run (always under CI=true). */
export function chromiumSkipReason(): string | undefined {
  if (existsSync(chromiumPath) || process.env.CI === "true") return undefined;
  return `skipped: ${chromiumPath} is missing (apt-get install chromium; under CI=true this fails instead)`;
}

/** A suite name with the skip reason, if any, in it: the report then says why it did not run. */
export function chromiumSuiteName(name: string): string {
  const reason = chromiumSkipReason();
  return reason === undefined ? name : `${name} (${reason})`;
}

/** Headless Chromium, closed after the file. */
export async function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox"] });
  afterAll(() => browser.close());
  return browser;
}
