/**
 * RUNLINE_CLAIM_HEAD_SCAN_MS has the default README states (a claim from the queue's head
 * at least every second), takes whole milliseconds from 0 (always from the head) to
 * 60,000, and stops the server naming itself otherwise.
 */
import { expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

it("defaults to a head scan every 1 s, reads the variable, and refuses values out of range", () => {
  expect(loadConfig({}).claimHeadScanMs).toBe(1000);
  expect(loadConfig({ RUNLINE_CLAIM_HEAD_SCAN_MS: "0" }).claimHeadScanMs).toBe(0);
  expect(loadConfig({ RUNLINE_CLAIM_HEAD_SCAN_MS: "60000" }).claimHeadScanMs).toBe(60_000);
  for (const value of ["-1", "60001", "0.5", "often"]) {
    expect(() => loadConfig({ RUNLINE_CLAIM_HEAD_SCAN_MS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ RUNLINE_CLAIM_HEAD_SCAN_MS: value })).toThrow(/RUNLINE_CLAIM_HEAD_SCAN_MS/);
  }
});
