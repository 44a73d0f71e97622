/**
 * A JSON body that does not decode is a 400 whose google.rpc.BadRequest violation names
 * the field at fault by its full JSON path (lowerCamel names, `[i]` for list elements,
 * `[key]` for map entries) and says what was expected there; malformed JSON names the
 * position the parser gives. Real server, real fetch: each case is one request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEchoServer, type EchoServer } from "./echo-server.js";

interface Status {
  code: number;
  message: string;
  details: Array<{ "@type": string; fieldViolations?: Array<{ field?: string; description: string }> }>;
}

let server: EchoServer;
beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(() => server.close());

async function refusal(path: string, body: string, method = "POST"): Promise<{ message: string; field: string; description: string }> {
  const response = await fetch(`${server.url}${path}`, { method, headers: { "content-type": "application/json" }, body });
  const status = (await response.json()) as Status;
  expect(response.status, JSON.stringify(status)).toBe(400);
  expect(status.code).toBe(3);
  const violations = status.details.find((detail) => detail["@type"] === "type.googleapis.com/google.rpc.BadRequest")?.fieldViolations;
  expect(violations, JSON.stringify(status)).toHaveLength(1);
  // proto3 JSON leaves an empty `field` (the body as a whole) out.
  return { message: status.message, field: violations![0]!.field ?? "", description: violations![0]!.description };
}

describe("a body that does not decode names the field and what was expected", () => {
  const cases: Array<[name: string, body: unknown, field: string, description: string]> = [
    ["a string for an integer", { int32Value: "ten" }, "int32Value", 'expected a 32-bit integer, got "ten"'],
    ["a proto name is reported by its JSON name", { int32_value: true }, "int32Value", "expected a 32-bit integer, got true"],
    ["a custom json_name", { customName: 5 }, "customName", "expected a string, got 5"],
    ["a nested field, two levels down", { nested: { child: { count: "x" } } }, "nested.child.count", 'expected a 32-bit integer, got "x"'],
    ["a list element", { numbers: ["1", "two"] }, "numbers[1]", 'expected a 64-bit integer (a number or a decimal string), got "two"'],
    ["a field of a message in a list", { items: [{}, { name: 7 }] }, "items[1].name", "expected a string, got 7"],
    ["a null list element", { tags: ["a", null] }, "tags[1]", "must not be null"],
    ["a map value", { labels: { team: 1 } }, "labels[team]", "expected a string, got 1"],
    [
      "a map key of the wrong type",
      { namesByNumber: { x: "a" } },
      "namesByNumber[x]",
      'invalid map key: expected a 32-bit integer, got "x"',
    ],
    ["a field of a message in a map", { nestedByKey: { k: { count: [] } } }, "nestedByKey[k].count", "expected a 32-bit integer, got []"],
    [
      "an unknown enum name",
      { color: "COLOR_PINK" },
      "color",
      'expected one of COLOR_UNSPECIFIED, COLOR_RED, COLOR_GREEN, got "COLOR_PINK"',
    ],
    [
      "a Timestamp",
      { time: "yesterday" },
      "time",
      'expected a google.protobuf.Timestamp (RFC 3339, e.g. "2024-01-02T03:04:05Z"), got "yesterday"',
    ],
    ["a wrapper", { wrappedFlag: "yes" }, "wrappedFlag", 'expected true or false, got "yes"'],
    ["a message given as a scalar", { nested: 3 }, "nested", "expected a JSON object (transcodingtest.v1.Nested), got 3"],
    ["a list given as a scalar", { tags: "a" }, "tags", 'expected a JSON array, got "a"'],
    ["an unknown field", { text: "a", colour: "blue" }, "colour", 'unknown field: transcodingtest.v1.Sample has no field "colour"'],
    ["an unknown nested field", { nested: { nme: "a" } }, "nested.nme", 'unknown field: transcodingtest.v1.Nested has no field "nme"'],
    [
      "one field by both its names",
      { int32Value: 1, int32_value: 2 },
      "int32Value",
      'is given twice, as "int32Value" and as "int32_value"',
    ],
    [
      "two members of a oneof",
      { choiceText: "a", choiceNumber: 1 },
      "choiceNumber",
      "cannot be set together with choiceText (oneof choice)",
    ],
  ];

  it.each(cases)("%s", async (_name, body, field, description) => {
    const refused = await refusal("/v1/resources", JSON.stringify(body));
    expect(refused).toEqual({ message: `${field}: ${description}`, field, description });
  });

  it('a body: "field" binding names the body\'s field first', async () => {
    const refused = await refusal("/v1/resources/r1/nested", JSON.stringify({ child: { name: 1 } }), "PATCH");
    expect(refused.field).toBe("nested.child.name");
    const malformed = await refusal("/v1/resources/r1/nested", "{oops", "PATCH");
    expect(malformed.field).toBe("nested");
    expect(malformed.description).toMatch(/^Expected .*at position 1 \(line 1 column 2\)$/);
  });

  it("a long value is cut short in the description", async () => {
    const refused = await refusal("/v1/resources", JSON.stringify({ int32Value: "x".repeat(10_000) }));
    expect(refused.field).toBe("int32Value");
    expect(refused.description.length).toBeLessThan(150);
  });
});

describe("faults of the body as a whole name no field", () => {
  it("malformed JSON: the parser's position, line and column", async () => {
    const refused = await refusal("/v1/resources", '{"text": "a",\n  "int32Value" 5}');
    expect(refused.field).toBe("");
    expect(refused.description).toBe("Expected ':' after property name in JSON at position 29 (line 2 column 16)");
    expect(refused.message).toBe(`invalid JSON body: ${refused.description}`);
  });

  it("a body that is not a JSON object", async () => {
    const refused = await refusal("/v1/resources", "[1, 2]");
    expect(refused).toMatchObject({ field: "", description: "expected a JSON object (transcodingtest.v1.Sample), got [1,2]" });
  });

  it("a duplicate key, which JSON.parse would silently collapse", async () => {
    const refused = await refusal("/v1/resources", '{"text":"a","text":"b"}');
    expect(refused).toMatchObject({ field: "", description: 'duplicate object key "text"' });
  });

  it("a body nested deeper than the decoder allows is a 400, not a stack overflow", async () => {
    const body = `{"nested":${'{"child":'.repeat(5000)}{"name":1}${"}".repeat(5001)}`;
    const refused = await refusal("/v1/resources", body);
    expect(refused.field).toMatch(/^nested(\.child)+$/);
    expect(refused.description).toBe("nests messages more than 100 deep");
  });

  it("a body that is not UTF-8", async () => {
    const response = await fetch(`${server.url}/v1/resources`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Uint8Array.from([0x7b, 0xff, 0x7d]),
    });
    const status = (await response.json()) as Status;
    expect(response.status).toBe(400);
    // No `field`: the violation is about the body as a whole, and proto3 JSON omits an empty string.
    expect(status.details).toEqual([
      { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ description: "the request body is not valid UTF-8" }] },
    ]);
  });
});

describe("query parameters and path variables are named by JSON path too", () => {
  it("a proto-named query parameter is reported by its JSON name", async () => {
    const response = await fetch(`${server.url}/v1/echo?nested.child.count=x`);
    const status = (await response.json()) as Status;
    expect(status.details[0]!.fieldViolations![0]!.field).toBe("nested.child.count");
    const snake = await fetch(`${server.url}/v1/echo?int32_value=x`);
    expect(((await snake.json()) as Status).details[0]!.fieldViolations![0]!.field).toBe("int32Value");
  });

  it("a map entry in the query is named with its key", async () => {
    const response = await fetch(`${server.url}/v1/echo?namesByNumber[x]=a`);
    expect(((await response.json()) as Status).details[0]!.fieldViolations![0]!.field).toBe("namesByNumber[x]");
  });

  it("a path variable on a nested field", async () => {
    const response = await fetch(`${server.url}/v1/nested/a/items/not-a-number`);
    const status = (await response.json()) as Status;
    expect(response.status).toBe(400);
    expect(status.details[0]!.fieldViolations![0]!.field).toBe("nested.count");
    expect(status.message).toContain('path variable "nested.count"');
  });
});
