/**
 * Migration 0006 on deliveries stored by 0005: each row gains its target host (lowercase
 * host[:port], credentials left out), everything else stays as it was, and the pending
 * rows are found by host through webhook_deliveries_host_due, which replaces
 * webhook_deliveries_due.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { migrateDatabase, openDatabase, type Database } from "../../src/db/database.js";
import { createEmptyDatabase } from "../support/test-database.js";

const tenant = "00000000-0000-4000-8000-00000000b001";
const delivery = (n: number) => `00000000-0000-4000-8000-0000000000${String(n).padStart(2, "0")}`;
/** URLs as tenants wrote them, and the host 0006 must derive. */
const stored: [url: string, outcome: string, host: string][] = [
  ["https://Hooks.Example.COM/runline?x=1", "PENDING", "hooks.example.com"],
  ["https://hooks.example.com:8443/a#f", "PENDING", "hooks.example.com:8443"],
  ["http://user:secret@127.0.0.1:9000/hook", "PENDING", "127.0.0.1:9000"],
  ["https://[2001:db8::1]:443/v6", "SUCCEEDED", "[2001:db8::1]:443"],
];

let database: Database;
let client: pg.Client;
let before: Map<string, Record<string, unknown>>;

async function rows(): Promise<Map<string, Record<string, unknown>>> {
  const result = await client.query<{ id: string; row: Record<string, unknown> }>(
    "select id, to_jsonb(d) as row from webhook_deliveries d",
  );
  return new Map(result.rows.map((row) => [row.id, row.row]));
}

beforeAll(async () => {
  const url = await createEmptyDatabase();
  database = await openDatabase({ url, poolSize: 2 });
  await database.orm.migrator.up({ to: "0005-webhooks" });
  client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const [index, [target, outcome]] of stored.entries()) {
    await client.query(
      `insert into webhook_deliveries (tenant_id, id, run_id, url, type, sequence, payload, outcome)
       values ($1, $2, $2, $3, 'run.succeeded', 3, '{"id": "r"}', $4)`,
      [tenant, delivery(index), target, outcome],
    );
  }
  before = await rows();
  expect(await migrateDatabase(database, url)).toEqual([
    "0006-webhook-hosts",
    "0007-rerun-of",
    "0008-access-tokens",
    "0009-event-partitions",
    "0010-tenant-labels",
  ]);
});

afterAll(async () => {
  await client.end();
  await database.close();
});

it("gives every stored delivery its host and changes nothing else", async () => {
  const after = await rows();
  expect(after.size).toBe(stored.length);
  for (const [index, [, , host]] of stored.entries()) {
    const { host: derived, ...rest } = after.get(delivery(index))!;
    expect(derived).toBe(host);
    expect(rest).toEqual(before.get(delivery(index)));
  }
});

it("replaces the due index with the pending-by-host one, and leaves room for HOT lease updates", async () => {
  const { rows: indexes } = await client.query<{ indexname: string; indexdef: string }>(
    "select indexname, indexdef from pg_indexes where tablename = 'webhook_deliveries' order by indexname",
  );
  const names = indexes.map((index) => index.indexname);
  expect(names).not.toContain("webhook_deliveries_due");
  expect(indexes.find((index) => index.indexname === "webhook_deliveries_host_due")?.indexdef).toMatch(
    /\(host, next_attempt_time\) WHERE \(outcome = 'PENDING'::text\)/,
  );
  const { rows: options } = await client.query<{ reloptions: string[] }>(
    "select reloptions from pg_class where relname = 'webhook_deliveries'",
  );
  expect(options[0]!.reloptions).toContain("fillfactor=70");
});

it("derives the host of a delivery written after it, as the claim expects", async () => {
  await client.query(
    `insert into webhook_deliveries (tenant_id, id, run_id, url, type, sequence, payload)
     values ($1, $2, $2, 'https://NEW.example.org:444/x', 'run.failed', 4, '{}')`,
    [tenant, delivery(50)],
  );
  const { rows: found } = await client.query<{ host: string }>("select host from webhook_deliveries where id = $1", [delivery(50)]);
  expect(found[0]!.host).toBe("new.example.org:444");
});
