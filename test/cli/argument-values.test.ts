/**
 * The parsers behind the CLI's option values: what they accept, and that a bad value
 * is a usage error naming the option.
 */
import { durationMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import {
  parseCountArgument,
  parseDurationArgument,
  parseJsonArgument,
  parseLabelArguments,
  parseStatusArguments,
} from "../../src/cli/argument-values.js";
import { UsageError } from "../../src/cli/cli-errors.js";
import { percentage, progressBar, progressFrom } from "../../src/cli/progress-bar.js";

describe("option values", () => {
  it("reads durations in ms, s, m and h", () => {
    expect(["500ms", "30s", "1.5m", "2h"].map((text) => durationMs(parseDurationArgument("wait", text)))).toEqual([
      500, 30_000, 90_000, 7_200_000,
    ]);
    expect(() => parseDurationArgument("wait", "30")).toThrow(
      new UsageError('--wait: expected a duration such as 500ms, 30s, 5m or 1h, got "30"'),
    );
  });

  it("reads statuses with or without the RUN_STATUS_ prefix, comma-separated or repeated", () => {
    expect(parseStatusArguments("status", ["queued,RUN_STATUS_RUNNING", "Failed"])).toEqual([
      RunStatus.QUEUED,
      RunStatus.RUNNING,
      RunStatus.FAILED,
    ]);
    expect(() => parseStatusArguments("status", ["unspecified"])).toThrow(UsageError);
  });

  it("reads key=value labels, keeping '=' inside values", () => {
    expect(parseLabelArguments("label", ["team=core", "query=a=b"])).toEqual({ team: "core", query: "a=b" });
    expect(() => parseLabelArguments("label", ["=x"])).toThrow('--label: expected key=value, got "=x"');
  });

  it("reads JSON inline and rejects what is not JSON, and counts from a minimum", () => {
    expect(parseJsonArgument("input", '{"n":1}')).toEqual({ n: 1 });
    expect(() => parseJsonArgument("input", "{n:1}")).toThrow(/^--input: not valid JSON/);
    expect(() => parseJsonArgument("input", "@/nonexistent/input.json")).toThrow("--input: cannot read /nonexistent/input.json: ENOENT");
    expect(parseCountArgument("after", "0", 0)).toBe(0);
    expect(() => parseCountArgument("limit", "0")).toThrow(UsageError);
  });
});

describe("progress", () => {
  it("reads {fraction, message} event data, clamping the fraction, and draws a bar of fixed width", () => {
    expect(progressFrom({ fraction: 1.2, message: "done" })).toEqual({ fraction: 1, message: "done" });
    expect(progressFrom({ message: "no fraction" })).toBeUndefined();
    expect(percentage({ fraction: 0.999, message: undefined })).toBe("99%");
    expect(progressBar({ fraction: 0.5, message: "half" }, 10)).toBe("[#####-----]  50% half");
  });
});
