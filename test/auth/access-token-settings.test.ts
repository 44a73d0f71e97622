/**
 * The access-token variables README documents: their defaults, and the values that stop
 * the server with the variable named.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("access-token settings", () => {
  it("default to a 5 s refresh and a 7-day key rotation", () => {
    expect(loadConfig({}).accessTokens).toEqual({ refreshMs: 5000, keyRotationMs: 604_800_000 });
  });

  it.each([
    [{ RUNLINE_ACCESS_TOKEN_REFRESH_MS: "50" }, "RUNLINE_ACCESS_TOKEN_REFRESH_MS"],
    [{ RUNLINE_ACCESS_TOKEN_REFRESH_MS: "5s" }, "RUNLINE_ACCESS_TOKEN_REFRESH_MS"],
    [{ RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS: "999" }, "RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS"],
    // A key waits two refresh periods before it signs: a faster rotation would make keys that never sign.
    [{ RUNLINE_ACCESS_TOKEN_REFRESH_MS: "1000", RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS: "1500" }, "RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS"],
  ])("refuse %o naming %s", (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^${variable}: `));
  });
});
