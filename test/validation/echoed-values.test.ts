/**
 * How a caller's value is echoed in error messages and field paths (errors.ts, echoed):
 * plain values as they are, control characters escaped, long values cut.
 */
import { describe, expect, it } from "vitest";
import { echoed } from "../../src/errors.js";

describe("echoed values", () => {
  it("keep a plain value as it is, non-ASCII included", () => {
    expect(echoed("step")).toBe("step");
    expect(echoed("ünïcødé ✓ 🎉")).toBe("ünïcødé ✓ 🎉");
    expect(echoed("")).toBe("");
  });

  it("escape control characters, DEL included", () => {
    expect(echoed("a\nb\u0000c\u007f")).toBe("a\\u000ab\\u0000c\\u007f");
  });

  it("cut a value past 64 characters and say how much is left", () => {
    expect(echoed("x".repeat(64))).toBe("x".repeat(64));
    expect(echoed("x".repeat(70))).toBe(`${"x".repeat(64)}…(6 more characters)`);
    expect(echoed(`${"x".repeat(63)}\t${"y".repeat(10)}`)).toBe(`${"x".repeat(63)}\\u0009…(10 more characters)`);
  });
});
