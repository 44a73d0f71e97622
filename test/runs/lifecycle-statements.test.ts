/**
 * Every statement built from the transition table, as text: the snapshot file beside
 * this test is the SQL the server runs, so a change to the table or its builders shows
 * up in review as a change of SQL.
 */
import { describe, expect, it } from "vitest";
import * as claims from "../../src/runs/lifecycle/claim-statements.js";
import * as completions from "../../src/runs/lifecycle/completion-statements.js";
import * as creations from "../../src/runs/lifecycle/create-statements.js";
import * as singleRun from "../../src/runs/lifecycle/run-statements.js";
import * as sweeps from "../../src/runs/lifecycle/sweep-statements.js";

/** The compiled statements a module exports, by export name. */
function statementsOf(module: Record<string, unknown>): [string, string][] {
  return Object.entries(module).flatMap(([name, value]) =>
    typeof value === "object" && value !== null && "text" in value && typeof value.text === "string"
      ? [[name, value.text] as [string, string]]
      : [],
  );
}

describe("the lifecycle statements", () => {
  it("are the SQL in __snapshots__/lifecycle-statements.sql", async () => {
    const modules = { creations, singleRun, claims, completions, sweeps };
    const sections = Object.entries(modules).flatMap(([module, exports]) =>
      statementsOf(exports).map(([name, text]) => `-- ${module}.${name}\n${text.trim()};\n`),
    );
    expect(sections.length).toBe(25);
    await expect(sections.join("\n")).toMatchFileSnapshot("__snapshots__/lifecycle-statements.sql");
  });
});
