/**
 * The report of a failed start (src/startup/start-failure.ts) always says something an
 * operator can read: a refusal is one line with its exit code; anything unexpected is
 * described in words, whatever was thrown, with its stack only when there is one. Once,
 * `runline: failed to start: undefined` was all a second start on a busy data folder said.
 */
import { once } from "node:events";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config.js";
import { describeStartFailure, describeThrown, StartFailure } from "../../src/startup/start-failure.js";

const target = { host: "127.0.0.1", port: 8080, databaseUrl: undefined };

describe("a failed start's report", () => {
  it("is one line for a configuration or start-up refusal, with its exit code", () => {
    expect(describeStartFailure(new ConfigError("PORT", 'expected a whole number, got "abc"'), undefined)).toEqual({
      lines: ['runline: bad configuration: PORT: expected a whole number, got "abc"'],
      exitCode: 2,
    });
    expect(describeStartFailure(new StartFailure("DATABASE_URL", "cannot use db:5432/runline: refused", 3), target)).toEqual({
      lines: ["runline: cannot start: DATABASE_URL: cannot use db:5432/runline: refused"],
      exitCode: 3,
    });
  });

  it("names PORT when the listener itself finds the port taken (after the start-up probe let it go)", async () => {
    const holder = net.createServer().listen(0, "127.0.0.1");
    await once(holder, "listening");
    const { port } = holder.address() as net.AddressInfo;
    const late = net.createServer().listen(port, "127.0.0.1");
    const [error] = (await once(late, "error")) as [Error];
    holder.close();
    expect(describeStartFailure(error, { ...target, port })).toEqual({
      lines: [`runline: cannot start: PORT: ${port} is already in use on 127.0.0.1 (another process listens there)`],
      exitCode: 2,
    });
  });

  it("names the database for a Postgres refusal after connecting (a migration, a first query), exit 3", () => {
    const refusal = Object.assign(new Error("permission denied for schema public"), { code: "42501", severity: "ERROR" });
    expect(describeStartFailure(refusal, { ...target, databaseUrl: "postgres://db/runline" })).toEqual({
      lines: ["runline: cannot start: DATABASE_URL: the database refused: permission denied for schema public (SQLSTATE 42501)"],
      exitCode: 3,
    });
  });

  it("describes in words whatever else was thrown, exit 1, with the stack when there is one", () => {
    const unexpected = describeStartFailure(new TypeError("x is not a function"), target);
    expect(unexpected.exitCode).toBe(1);
    expect(unexpected.lines[0]).toBe("runline: failed to start, unexpectedly: x is not a function");
    expect(unexpected.lines[1]).toMatch(/^\s+at /);
    expect(describeStartFailure(undefined, target)).toEqual({
      lines: ["runline: failed to start, unexpectedly: a failure that came with no description (undefined was thrown)"],
      exitCode: 1,
    });
  });

  it("never comes out empty, whatever was thrown", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED ::1:5432"), { code: "ECONNREFUSED" });
    const cases: [unknown, string][] = [
      [undefined, "a failure that came with no description (undefined was thrown)"],
      [null, "a failure that came with no description (null was thrown)"],
      ["", 'a failure described only as ""'],
      [{ reason: 42 }, 'a failure described only as {"reason":42}'],
      [Object.assign(new Error(""), { code: "ECONNRESET" }), "Error ECONNRESET"],
      [new RangeError(""), "RangeError with no message"],
      // Node's connect to every address of "localhost" fails with an AggregateError and no message.
      [
        new AggregateError([refused, new Error("connect ECONNREFUSED 127.0.0.1:5432")], ""),
        "connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432",
      ],
    ];
    for (const [thrown, expected] of cases) expect(describeThrown(thrown)).toBe(expected);
  });
});
