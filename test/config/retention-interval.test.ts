/**
 * RUNLINE_RETENTION_INTERVAL_MS has the default README states (a pass a minute), takes
 * whole milliseconds from 100 to 86,400,000, and stops the server naming itself otherwise.
 */
import { expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

it("defaults to a retention pass every 60 s, reads the variable, and refuses values out of range", () => {
  expect(loadConfig({}).retentionIntervalMs).toBe(60_000);
  expect(loadConfig({ RUNLINE_RETENTION_INTERVAL_MS: "100" }).retentionIntervalMs).toBe(100);
  expect(loadConfig({ RUNLINE_RETENTION_INTERVAL_MS: "86400000" }).retentionIntervalMs).toBe(86_400_000);
  for (const value of ["99", "86400001", "1.5", "soon"]) {
    expect(() => loadConfig({ RUNLINE_RETENTION_INTERVAL_MS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ RUNLINE_RETENTION_INTERVAL_MS: value })).toThrow(/RUNLINE_RETENTION_INTERVAL_MS/);
  }
});
