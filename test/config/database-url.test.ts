/**
 * DATABASE_URL is checked at start-up, naming the variable and never echoing the value
 * (it may hold a password): anything but a postgres:// or postgresql:// URL that the
 * WHATWG parser reads stops the server before anything connects. MikroORM parses the URL
 * that way, so a URL only pg reads (no host, `?host=/socket/dir`) is refused here, where
 * it once passed and then failed the start with `TypeError: Invalid URL` and a stack.
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
    expect(loadConfig({ DATABASE_URL: "postgresql://runline@localhost/runline" }).databaseUrl).toBe(
      "postgresql://runline@localhost/runline",
    );
  });

  it("refuses another scheme, naming the variable", () => {
    const refused = error("mysql://db/runline");
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toBe(
      "DATABASE_URL: expected a postgres:// or postgresql:// URL, like postgres://user:password@host:5432/database",
    );
  });

  it("refuses a URL with no host, a bad port or several hosts, without echoing it", () => {
    for (const url of [
      "postgresql://runline@/runline?host=/var/run/postgresql",
      "postgres://runline:s3cret@db:notaport/runline",
      "postgres://runline:s3cret@db1:5432,db2:5432/runline",
      "postgres://",
    ]) {
      const refused = error(url);
      expect(refused, url).toBeInstanceOf(ConfigError);
      expect((refused as Error).message, url).toMatch(/^DATABASE_URL: (not a URL Runline can use|has no host)/);
      expect((refused as Error).message, url).not.toContain("s3cret");
    }
  });
});
