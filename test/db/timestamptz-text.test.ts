/**
 * Postgres timestamptz text is read as Postgres means it, whatever the session's time
 * zone: years below 100 (which `new Date` reads as 2000–2099), BC, `infinity`, years
 * past 9999, offsets with minutes or seconds, and microseconds (cut to milliseconds).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { millisFromTimestamptz } from "../../src/db/timestamptz-text.js";
import { createTestDatabase } from "../support/test-database.js";

const times = [
  "2026-01-02 03:04:05.123456+00",
  "1970-01-01 00:00:00+00",
  "1969-12-31 23:59:59.9999+00",
  "0001-01-01 00:00:00+00",
  "0049-06-15 12:00:00+00",
  "0099-12-31 23:59:59.5+00",
  "0100-03-01 00:00:00+00",
  "9999-12-31 23:59:59.999999+00",
  "10000-01-01 00:00:00+00",
  "4000-01-01 00:00:00+00 BC",
  "0001-12-31 23:59:59+00 BC",
  "4713-01-01 00:00:00+00 BC",
  "200000-07-01 00:00:00+00",
  "1850-06-01 12:00:00+00",
];

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: await createTestDatabase() });
  await client.connect();
});

afterAll(() => client.end());

describe("millisFromTimestamptz", () => {
  // Kolkata: +05:30; Paris in 1850: local mean time, +00:09:21.
  for (const zone of ["UTC", "Asia/Kolkata", "America/New_York", "Europe/Paris"]) {
    it(`reads every time Postgres writes in time zone ${zone} as the instant it is`, async () => {
      await client.query(`set timezone = '${zone}'`);
      const { rows } = await client.query<{ text: string; ms: string }>(
        `select t::text as text, floor(extract(epoch from t) * 1000)::text as ms from unnest($1::timestamptz[]) as t`,
        [times],
      );
      expect(rows.map((row) => [row.text, millisFromTimestamptz(row.text)])).toEqual(rows.map((row) => [row.text, Number(row.ms)]));
    });
  }

  it("reads infinity and years beyond JavaScript's dates as ±Infinity, and refuses what is no timestamptz", async () => {
    expect([millisFromTimestamptz("infinity"), millisFromTimestamptz("-infinity")]).toEqual([Infinity, -Infinity]);
    expect(millisFromTimestamptz("294276-12-31 23:59:59.999999+00")).toBe(Infinity);
    expect(() => millisFromTimestamptz("yesterday")).toThrow(/not a timestamptz/);
  });
});
