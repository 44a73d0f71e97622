/**
 * The connection variables (keepalive, HTTP/2 streams, headers, session memory) have
 * the defaults README states, take whole numbers in their documented ranges, and stop
 * the server naming the variable otherwise.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

function refusal(env: Record<string, string>): string | undefined {
  try {
    loadConfig(env);
  } catch (thrown) {
    expect(thrown).toBeInstanceOf(ConfigError);
    return (thrown as Error).message;
  }
  return undefined;
}

describe("connection limits from the environment", () => {
  it("defaults to PINGs every 20 s answered within 10 s, 100 streams, 16 KiB of headers, 10 MB per session", () => {
    expect(loadConfig({}).connectionLimits).toEqual({
      keepaliveIntervalMs: 20_000,
      keepaliveTimeoutMs: 10_000,
      maxConcurrentStreams: 100,
      maxHeaderBytes: 16_384,
      maxSessionMemoryMb: 10,
    });
  });

  it("reads every variable, 0 turning keepalive off", () => {
    const limits = loadConfig({
      RUNLINE_KEEPALIVE_INTERVAL_MS: "0",
      RUNLINE_KEEPALIVE_TIMEOUT_MS: "500",
      RUNLINE_HTTP2_MAX_STREAMS: "250",
      RUNLINE_MAX_HEADER_BYTES: "32768",
      RUNLINE_HTTP2_SESSION_MEMORY_MB: "32",
    }).connectionLimits;
    expect(limits).toEqual({
      keepaliveIntervalMs: 0,
      keepaliveTimeoutMs: 500,
      maxConcurrentStreams: 250,
      maxHeaderBytes: 32_768,
      maxSessionMemoryMb: 32,
    });
  });

  it("refuses values outside their ranges, naming the variable", () => {
    expect(refusal({ RUNLINE_KEEPALIVE_TIMEOUT_MS: "10" })).toBe("RUNLINE_KEEPALIVE_TIMEOUT_MS: must be between 50 and 600000, got 10");
    expect(refusal({ RUNLINE_HTTP2_MAX_STREAMS: "0" })).toBe("RUNLINE_HTTP2_MAX_STREAMS: must be between 1 and 100000, got 0");
    expect(refusal({ RUNLINE_MAX_HEADER_BYTES: "512" })).toBe("RUNLINE_MAX_HEADER_BYTES: must be between 1024 and 1048576, got 512");
    expect(refusal({ RUNLINE_HTTP2_SESSION_MEMORY_MB: "2048" })).toBe(
      "RUNLINE_HTTP2_SESSION_MEMORY_MB: must be between 1 and 1024, got 2048",
    );
    expect(refusal({ RUNLINE_KEEPALIVE_INTERVAL_MS: "20s" })).toBe('RUNLINE_KEEPALIVE_INTERVAL_MS: expected a whole number, got "20s"');
  });
});
