/**
 * DATABASE_URL is checked at start-up, naming the variable: anything but a postgres://
 * or postgresql:// URL stops the server before anything connects. URLs that pg accepts
 * but the WHATWG parser does not (an empty host with ?host=/socket/dir) pass.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

const error = (url: string) => {
  try {
    loadConfig({ DATABASE_URL: url });
  } catch (thrown) {
    return thrown;
  }
  return undefined;
};

describe("DATABASE_URL", () => {
  it("accepts postgres:// and postgresql:// URLs, options included", () => {
    expect(loadConfig({ DATABASE_URL: "postgres://runline:secret@db.internal:5432/runline?sslmode=require" }).databaseUrl).toBe(
      "postgres://runline:secret@db.internal:5432/runline?sslmode=require",
    );
    expect(loadConfig({ DATABASE_URL: "postgresql://runline@/runline?host=/var/run/postgresql" }).databaseUrl).toBe(
      "postgresql://runline@/runline?host=/var/run/postgresql",
    );
  });

  it("refuses another scheme, naming the variable", () => {
    const refused = error("mysql://db/runline");
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toBe("DATABASE_URL: expected a postgres:// or postgresql:// URL");
  });
});
