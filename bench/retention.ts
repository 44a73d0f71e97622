/**
 * The `retention` group (issue 16): what migration 0009 costs on a populated event log,
 * and what dropping a week of events costs, with the locks other sessions see meanwhile.
 * It needs no Runline server, so it also runs on its own, on a cluster of its own (fsync
 * on, as in production): `npx tsx bench/retention.ts`.
 *
 * 1. A database at migration 0008 with BENCH_RETENTION_EVENTS events (default 1,000,000:
 *    10,000 finished runs of 100 events, ~120 bytes of JSON each), then 0009 timed.
 * 2. The retention pass's steps on it, with the clock 31 days ahead: the expired runs
 *    (99 % of them) deleted, the events of the 1 % still live moved to run_events_kept,
 *    the week (run_events_legacy, all 1M events) detached concurrently and dropped.
 *    Meanwhile one session updates a live run's row in a loop under `lock_timeout =
 *    100ms` and another appends and reads events, each timing every statement, and a
 *    third samples the sweeper session's locks on `runs` every 5 ms.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.js";
import { createLogger } from "../src/logger.js";
import { migrateDatabase, openDatabase } from "../src/db/database.js";
import { openDedicatedSession } from "../src/db/dedicated-session.js";
import { dropEventLeaf, dueEventLeaves, moveSurvivingEvents } from "../src/retention/event-partitions.js";
import { deleteExpiredRuns } from "../src/retention/run-expiry.js";
import { loadAverage, say, type BenchContext, type ScenarioGroup } from "./bench-context.js";

const database = "bench_retention";
const tenant = "00000000-0000-4000-8000-0000000e0001";
const workflow = "00000000-0000-4000-8000-0000000e0002";
const eventsPerRun = 100;

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(2);
}

async function seed(client: pg.Client, events: number): Promise<void> {
  const runs = Math.ceil(events / eventsPerRun);
  await client.query(`insert into tenants (id, slug) values ($1, 'retention')`, [tenant]);
  await client.query(`insert into workflows (tenant_id, id, slug, latest_version) values ($1, $2, 'w', 1)`, [tenant, workflow]);
  await client.query(
    `insert into workflow_versions (tenant_id, workflow_id, version, definition, defaults, content_hash) values ($1, $2, 1, '{}', '{}', 'h')`,
    [tenant, workflow],
  );
  // 1 % live (RUNNING), the rest finished 40 days ago; ids time-ordered like the server's.
  await client.query(
    `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, last_sequence, create_time, end_time)
     select $1, (lpad(to_hex(n), 8, '0') || '-0000-7000-8000-000000000000')::uuid, $2, 1,
       case when n % 100 = 0 then 'RUNNING' else 'SUCCEEDED' end, 'bench', $3,
       now() - interval '40 days', case when n % 100 = 0 then null else now() - interval '40 days' end
     from generate_series(1, $4::int) n`,
    [tenant, workflow, eventsPerRun, runs],
  );
  await client.query(
    `insert into run_events (tenant_id, run_id, sequence, type, data, create_time)
     select r.tenant_id, r.id, s, 'progress',
       jsonb_build_object('step', s, 'message', 'step ' || s || ' of the run', 'fraction', s / 100.0, 'pad', repeat('x', 40)),
       now() - interval '40 days' + s * interval '1 second'
     from runs r cross join generate_series(1, $1::int) s`,
    [eventsPerRun],
  );
  await client.query("vacuum analyze");
}

/** Times statements in a loop until stopped: the slowest, and how many failed. */
function probe(url: string, setup: string[], statement: (client: pg.Client) => Promise<unknown>) {
  let stopped = false;
  const result = { statements: 0, failures: 0, slowestMs: 0 };
  const done = (async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    for (const line of setup) await client.query(line);
    while (!stopped) {
      const started = performance.now();
      try {
        await statement(client);
      } catch {
        result.failures++;
      }
      result.slowestMs = Math.max(result.slowestMs, performance.now() - started);
      result.statements++;
    }
    await client.end();
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
      return result;
    },
  };
}

/** Samples which lock modes `pid` holds or waits for on `runs`. */
function sampleLocks(url: string, pid: number) {
  const modes = new Set<string>();
  const sampler = probe(url, [], async (client) => {
    const { rows } = await client.query<{ mode: string }>(
      `select mode || case when granted then '' else ' (waiting)' end as mode from pg_locks
       where pid = $1 and locktype = 'relation' and relation = 'runs'::regclass`,
      [pid],
    );
    for (const row of rows) modes.add(row.mode);
    await new Promise((resolve) => setTimeout(resolve, 5));
  });
  return { stop: async () => (await sampler.stop(), [...modes]) };
}

async function dropWeek(url: string, client: pg.Client): Promise<void> {
  await client.query(`update tenants set retention_seconds = 30 * 86400`);
  const [live] = (await client.query<{ id: string }>(`select id from runs where status = 'RUNNING' limit 1`)).rows;
  const session = await openDedicatedSession(url);
  const [{ pid }] = (await session.sql.query<{ pid: number }>(`select pg_backend_pid() as pid`)) as [{ pid: number }];
  const [{ clock }] = (await session.sql.query<{ clock: string }>(`select (now() + interval '31 days')::text as clock`)) as [
    { clock: string },
  ];
  const rowWriter = probe(url, ["set lock_timeout = '100ms'"], (c) =>
    c.query(`update runs set update_time = now() where tenant_id = $1 and id = $2`, [tenant, live!.id]),
  );
  let sequence = eventsPerRun;
  const eventWriter = probe(url, ["set lock_timeout = '100ms'"], async (c) => {
    await c.query(`insert into run_events (tenant_id, run_id, sequence, type) values ($1, $2, $3, 'probe')`, [
      tenant,
      live!.id,
      ++sequence,
    ]);
    await c.query(`select * from run_events where tenant_id = $1 and run_id = $2 and sequence > $3 order by sequence limit 50`, [
      tenant,
      live!.id,
      sequence - 10,
    ]);
  });
  const locks = sampleLocks(url, pid);
  try {
    let started = performance.now();
    const deleted = await deleteExpiredRuns(session.sql, clock, 500, () => false);
    say(`| delete expired runs (500 a statement) | ${deleted} runs | ${seconds(started)} |`);
    const [leaf] = await dueEventLeaves(session.sql, clock);
    started = performance.now();
    const moved = await moveSurvivingEvents(session.sql, leaf!, 500);
    say(`| move the live runs' events to run_events_kept | ${moved} events | ${seconds(started)} |`);
    started = performance.now();
    await dropEventLeaf(session.sql, leaf!.name);
    say(`| detach concurrently and drop ${leaf!.name} | the rest of the week | ${seconds(started)} |`);
  } finally {
    const [rows, events, modes] = await Promise.all([rowWriter.stop(), eventWriter.stop(), locks.stop()]);
    await session.close();
    say(
      `\nMeanwhile: updates of a live run's row: ${rows.statements}, ${rows.failures} failed (lock_timeout 100 ms), slowest ${rows.slowestMs.toFixed(1)} ms;`,
    );
    say(`appends + reads of its events: ${events.statements}, ${events.failures} failed, slowest ${events.slowestMs.toFixed(1)} ms;`);
    say(`lock modes the sweeper's session held on runs: ${modes.join(", ") || "none"}.`);
  }
}

/** Both parts, on a database of their own, dropped at the end. */
async function runRetention(context: Pick<BenchContext, "admin" | "urlFor">): Promise<boolean> {
  const events = Number(process.env.BENCH_RETENTION_EVENTS ?? 1_000_000);
  await context.admin.query(`drop database if exists ${database}`);
  await context.admin.query(`create database ${database}`);
  const url = context.urlFor(database);
  const opened = await openDatabase({ url, poolSize: 2 });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await opened.orm.migrator.up({ to: "0008-access-tokens" });
    let started = performance.now();
    await seed(client, events);
    const [size] = (await client.query<{ size: string }>(`select pg_size_pretty(pg_total_relation_size('run_events')) as size`)).rows;
    say(`Seeded ${events} events (${size!.size} with indexes) in ${seconds(started)} s.\n`);
    say(`| step | rows | seconds |\n|---|---|---|`);
    await context.admin.query("checkpoint");
    started = performance.now();
    await migrateDatabase(opened, url);
    say(`| migration 0009 (restamp scan, ATTACH validation scan) | ${events} events | ${seconds(started)} |`);
    await context.admin.query("checkpoint");
    await dropWeek(url, client);
    return true;
  } finally {
    await client.end();
    await opened.close();
    await context.admin.query(`drop database if exists ${database}`);
  }
}

/** The `retention` scenario group (BENCH_SCENARIOS=retention, once registered in run.ts). */
export const retentionBench: ScenarioGroup = {
  name: "retention",
  summary: "migration 0009 on a populated event log, and dropping a week of 1M events",
  run: runRetention,
};

/** Runs the group on a cluster of its own, which it removes after. */
async function main(): Promise<void> {
  const folder = await mkdtemp(path.join(os.tmpdir(), "runline-retention-bench-"));
  await chmod(folder, 0o755);
  const cluster = await startEmbeddedPostgres({ directory: path.join(folder, "pg"), logger: createLogger("warn") });
  const admin = new pg.Client({ connectionString: cluster.adminUrl });
  try {
    await admin.connect();
    const { rows } = await admin.query<{ version: string }>("select version()");
    say(`${rows[0]!.version}; ${os.cpus().length} CPUs; load average before: ${loadAverage()}\n`);
    await runRetention({ admin, urlFor: cluster.urlFor });
    say(`\nload average after: ${loadAverage()}`);
  } finally {
    await admin.end();
    await cluster.stop();
    await rm(folder, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
