/**
 * A tenant's JSON Schema runs on the event loop every tenant shares: no schema may make a
 * check cost more than the size of what it checks. A hostile probe held a server for 3 s
 * (every request of every tenant, /healthz included) with `"pattern": "^(a+)+$"` and 30
 * characters of input, and for 1.1 s with `uniqueItems` over 8,000 objects. Patterns now
 * run on RE2 (linear time) and uniqueItems compares canonical JSON through a set
 * (src/workflows/json-schema.ts). The old engines would never finish the pattern below
 * (5,000 characters; the time doubled per character from 3 s at 30) and take about 40 s
 * for the 50,000 objects (quadratic from 1.1 s at 8,000): these tests finishing within
 * vitest's timeout is the proof, with no timing asserted.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { validateAgainstSchema } from "../../src/workflows/json-schema.js";
import { createTenant, type TenantFixture } from "../support/clients.js";
import { capturePrinted } from "../support/printed-output.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createTenant(baseUrl);
});

async function post(path: string, body: unknown) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { message?: string; run?: { id: string } } };
}

const workflow = (slug: string, inputSchema: unknown) => post("/api/v1/workflows", { slug, definition: {}, inputSchema });
const run = (slug: string, input: unknown) => post("/api/v1/runs", { workflow: slug, input });

describe("patterns", () => {
  it("a catastrophic pattern checks 5,000 characters at once, and still refuses what does not match", async () => {
    expect((await workflow("redos", { type: "object", properties: { s: { type: "string", pattern: "^(a+)+$" } } })).status).toBe(200);
    const refused = await run("redos", { s: `${"a".repeat(5000)}!` });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe('input.s: must match pattern "^(a+)+$"');
    expect((await run("redos", { s: "a".repeat(5000) })).status).toBe(200);
  });

  it("keep JSON Schema's meaning: unanchored search, classes, Unicode, escapes, patternProperties", async () => {
    const schema = {
      type: "object",
      properties: {
        code: { type: "string", pattern: "^[a-z]+-\\d{2}$" },
        word: { type: "string", pattern: "^\\p{L}+$" },
        accent: { type: "string", pattern: "\\u00e9" },
        part: { type: "string", pattern: "b" },
      },
      patternProperties: { "^x-": { type: "integer" } },
    };
    expect((await workflow("patterns", schema)).status).toBe(200);
    const accepted = await run("patterns", { code: "ab-12", word: "Größe", accent: "café", part: "abc", "x-n": 3 });
    expect(accepted.body.message).toBeUndefined();
    const cases: Array<[input: Record<string, unknown>, message: string]> = [
      [{ code: "AB-12" }, 'input.code: must match pattern "^[a-z]+-\\d{2}$"'],
      [{ word: "abc1" }, 'input.word: must match pattern "^\\p{L}+$"'],
      [{ accent: "cafe" }, 'input.accent: must match pattern "\\u00e9"'],
      [{ part: "xyz" }, 'input.part: must match pattern "b"'],
      [{ "x-n": "three" }, "input.x-n: must be integer"],
    ];
    for (const [input, message] of cases) {
      const answer = await run("patterns", input);
      expect(answer.status, JSON.stringify(input)).toBe(400);
      expect(answer.body.message).toBe(message);
    }
  });

  it("that need backtracking (backreferences, lookaround) are refused when the workflow is made, naming the pattern", async () => {
    for (const pattern of ["^(a)\\1$", "^(?=a)a"]) {
      const answer = await workflow(`backtrack-${pattern.length}`, { type: "string", pattern });
      expect(answer.status, pattern).toBe(400);
      expect(answer.body.message).toContain(`inputSchema: not a valid JSON Schema: pattern ${JSON.stringify(pattern)} is not supported`);
    }
  });

  it("stored before this rule, make a create fail with FAILED_PRECONDITION, not a crash", () => {
    const stored = { type: "object", properties: { s: { type: "string", pattern: "^(a)\\1$" } } };
    expect(() => validateAgainstSchema({ s: "aa" }, stored, "input")).toThrow(
      expect.objectContaining({
        kind: "failed_precondition",
        message: expect.stringContaining("the schema for input cannot be used") as unknown,
      }),
    );
  });
});

describe("formats", () => {
  // A hostile probe made ajv print "unknown format … ignored" to stderr at will.
  it("an unknown format is an annotation: accepted, ignored, and nothing reaches stderr", async () => {
    // ajv's default logger is the console.
    const printing = capturePrinted();
    let printed: string[];
    try {
      expect((await workflow("odd-format", { type: "string", format: "no-such-format" })).status).toBe(200);
      expect((await run("odd-format", "anything")).status).toBe(200);
      // Known formats are still checked.
      expect((await workflow("email-format", { type: "string", format: "email" })).status).toBe(200);
      expect((await run("email-format", "not an address")).body.message).toBe('input: must match format "email"');
    } finally {
      printed = printing.stop();
    }
    expect(printed).toEqual([]);
  });
});

describe("uniqueItems", () => {
  it("checks 50,000 objects at once, and finds duplicates whatever their key order", async () => {
    expect((await workflow("unique", { type: "array", uniqueItems: true })).status).toBe(200);
    const distinct = Array.from({ length: 50_000 }, (_, index) => ({ a: index }));
    expect((await run("unique", distinct)).status).toBe(200);

    const duplicated = await run("unique", [{ a: 1, b: [1, { c: 2 }] }, "x", { b: [1, { c: 2 }], a: 1 }]);
    expect(duplicated.status).toBe(400);
    expect(duplicated.body.message).toBe("input: must NOT have duplicate items (items ## 0 and 2 are identical)");
    expect((await run("unique", [1, "1", [1], { 1: 1 }, null, true])).status).toBe(200);
    expect(
      (
        await run("unique", [
          [1, 2],
          [2, 1],
        ])
      ).status,
    ).toBe(200);
  });
});
