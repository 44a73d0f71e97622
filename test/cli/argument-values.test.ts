/**
 * The parsers behind the CLI's option values: what they accept, and that a bad value
 * is a usage error naming the option; and how a progress line is fitted to a terminal.
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
import { fitProgressLine, percentage, progressBar, progressFrom } from "../../src/cli/progress-bar.js";
import { fitToWidth, visibleWidth } from "../../src/cli/terminal-text.js";

describe("option values", () => {
  it("reads durations in ms, s, m and h", () => {
    expect(["500ms", "30s", "1.5m", "2h"].map((text) => durationMs(parseDurationArgument("wait", text)))).toEqual([
      500, 30_000, 90_000, 7_200_000,
    ]);
    expect(() => parseDurationArgument("wait", "30")).toThrow(
      new UsageError('--wait: expected a duration such as 500ms, 30s, 5m or 1h, got "30"'),
    );
  });

  it("refuses durations outside an option's documented bounds, naming the option and the limit", () => {
    const waitBounds = { positive: true, max: "5m" };
    expect(durationMs(parseDurationArgument("wait", "5m", waitBounds))).toBe(300_000);
    expect(durationMs(parseDurationArgument("timeout", "366d", { max: "366d" }))).toBe(366 * 86_400_000);
    expect(() => parseDurationArgument("wait", "10m", waitBounds)).toThrow(new UsageError("--wait: 10m is more than the limit of 5m"));
    expect(() => parseDurationArgument("wait", "300001ms", waitBounds)).toThrow(/limit of 5m/);
    expect(() => parseDurationArgument("wait", "0s", waitBounds)).toThrow(new UsageError('--wait: must be longer than 0, got "0s"'));
    expect(durationMs(parseDurationArgument("wait", "0s"))).toBe(0);
    expect(() => parseDurationArgument("wait", "99999999999999999999h")).toThrow(
      new UsageError("--wait: 99999999999999999999h is too long"),
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
    expect(progressFrom({ fraction: 0.5, message: "line\nbreak\u001b[2J" })?.message).toBe("line break [2J");
  });

  it("measures what a terminal shows: colours take no column, CJK and emoji two, combining marks none", () => {
    expect(visibleWidth("\u001b[2m#12\u001b[22m")).toBe(3);
    expect([visibleWidth("日本"), visibleWidth("✅"), visibleWidth("e\u0301")]).toEqual([4, 2, 1]);
    expect(fitToWidth("\u001b[31mredredred\u001b[39m tail", 5)).toBe("\u001b[31mredr…\u001b[39m");
    expect(fitToWidth("日本語です", 5)).toBe("日本…");
  });

  it("fits the progress line to the width: the bar shrinks, then the prefix goes, then the message is cut", () => {
    const progress = { fraction: 0.25, message: "step 1 of 4" };
    const prefixes = ["#12  2025-01-31T12:00:05Z  progress", "#12  progress", "#12"];
    const widths = [120, 79, 49, 30];
    const lines = widths.map((width) => fitProgressLine(prefixes, progress, width));
    expect(lines).toEqual([
      "#12  2025-01-31T12:00:05Z  progress  [########----------------------]  25% step 1 of 4",
      "#12  2025-01-31T12:00:05Z  progress  [######-----------------]  25% step 1 of 4",
      "#12  progress  [####-----------]  25% step 1 of 4",
      "#12  25% step 1 of 4",
    ]);
    const long = { fraction: 1, message: "copying quarterly-report-final-version-2.tar.gz to the archive" };
    expect(fitProgressLine(prefixes, long, 49)).toBe("#12  [##########] 100% copying quarterly-report-…");
    for (const width of [10, 20, 49, 79]) expect(visibleWidth(fitProgressLine(prefixes, long, width))).toBeLessThanOrEqual(width);
  });
});
