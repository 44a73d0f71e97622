/**
 * The `scale` group's reads: each RPC over Connect (binary, h2c, one connection, one call
 * at a time) beside the SQL the server runs for it on raw `pg`, alternating call by call
 * so drift on the shared machine hits both alike. The raw statements are the server's
 * own (runColumns, listRuns itself for label filters, the gauges' statements), plus the
 * minimal keyset query for pages: the ids and times of the page, and nothing else. End to
 * end includes the server's SQL, so end to end over raw is an upper bound of the
 * server's own overhead.
 */
import type { Client } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { RunStatus } from "../gen/runline/v1/run_pb.js";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import { queueByWorkflow, queueByWorkflowJoinedFirst, runsByStatus, runsByStatusCounted } from "../src/metrics/metrics.js";
import type { Sql } from "../src/db/database.js";
import { createPageTokens } from "../src/runs/page-token.js";
import { everyRun, listRuns } from "../src/runs/run-queries.js";
import { runColumns } from "../src/runs/run-record.js";
import { say } from "./bench-context.js";
import { format } from "./report.js";

/** Calls per measured query, after `warmupCalls` unmeasured ones, unless `measureMs` ends them first. */
const calls = 400;
const warmupCalls = 40;
/** A slow query (a label filter's old plan takes seconds at 5M) stops here, with at least `minimumCalls`. */
const measureMs = 30_000;
const minimumCalls = 10;
const scrapes = 30;
/** The page that must cost no more than the first. */
export const deepPage = 10_000;
const pageSize = 50;

/** One query measured both ways. */
export interface QueryFigures {
  readonly name: string;
  readonly endToEnd: Latency;
  readonly raw: Latency;
  /** The minimal keyset query, for pages. */
  readonly keyset?: Latency;
}

/** Latency percentiles in ms. */
export interface Latency {
  readonly p50: number;
  readonly p99: number;
}

function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (fraction: number) => sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

async function timed(operation: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await operation();
  return performance.now() - started;
}

/**
 * Runs each operation `calls` times in turn (after a warm-up, both cut short for slow
 * operations by `measureMs`) and returns their latencies.
 */
async function alternate(operations: readonly (() => Promise<unknown>)[]): Promise<Latency[]> {
  const samples = operations.map((): number[] => []);
  const warmupEnd = performance.now() + measureMs / 10;
  let measuring = false;
  let measureEnd = 0;
  for (
    let call = 0;
    !measuring || (samples[0]!.length < calls && (performance.now() < measureEnd || samples[0]!.length < minimumCalls));
    call++
  ) {
    if (!measuring && (call >= warmupCalls || performance.now() > warmupEnd)) {
      measuring = true;
      measureEnd = performance.now() + measureMs;
    }
    for (const [index, operation] of operations.entries()) {
      const milliseconds = await timed(operation);
      if (measuring) samples[index]!.push(milliseconds);
    }
  }
  return samples.map(latency);
}

// The server's ListRuns statement (run-queries.ts) for the filters measured here; with a
// cursor, its time and id are parameters $2 and $3.
const serverPage = (condition: string, after = false) => `
  select ${runColumns}, r.create_time::text as cursor_time from runs r
  where r.tenant_id = $1::uuid${condition}${after ? " and (r.create_time, r.id) < ($2::timestamptz, $3::uuid)" : ""}
  order by r.create_time desc, r.id desc limit 51`;
const byStatus = " and r.status = $2::text";
const pageTokens = createPageTokens(randomBytes(32));
/** On 1 run in 10 of every tenant, and on 1 in 30 (both labels). */
const commonLabel = { team: "team-3" };
const rareLabels = { team: "team-3", env: "dev" };
const keysetPage = (after: boolean) => `
  select r.id, r.create_time from runs r
  where r.tenant_id = $1::uuid${after ? " and (r.create_time, r.id) < ($2::timestamptz, $3::uuid)" : ""}
  order by r.create_time desc, r.id desc limit 51`;

/** What the reads need: the big tenant's client and id, and a raw connection. */
export interface ReadTarget {
  readonly runs: Client<typeof RunsService>;
  readonly tenantId: string;
  readonly database: pg.Client;
  readonly serverUrl: string;
}

/** Prints EXPLAIN (ANALYZE, BUFFERS) of `text`, indented, under `title`. */
async function explain(database: pg.Client, title: string, text: string, values: unknown[]): Promise<void> {
  const { rows } = await database.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers) ${text}`, values);
  say(`  plan of ${title}:\n${rows.map((row) => `      ${row["QUERY PLAN"]}`).join("\n")}`);
}

/** Walks the newest-first pages to `deepPage` (fewer if the tenant has fewer) and returns its token and cursor. */
async function walkPages(target: ReadTarget): Promise<{ token: string; page: number; cursor: [string, string]; seconds: number }> {
  const started = performance.now();
  let token = "";
  let page = 1;
  for (; page < deepPage; page++) {
    const next = (await target.runs.listRuns({ pageSize, pageToken: token })).nextPageToken;
    if (next === "") break;
    token = next;
  }
  const { rows } = await target.database.query<{ time: string; id: string }>(
    `select r.create_time::text as time, r.id from runs r where r.tenant_id = $1::uuid
     order by r.create_time desc, r.id desc offset $2::int limit 1`,
    [target.tenantId, (page - 1) * pageSize - 1],
  );
  return { token, page, cursor: [rows[0]!.time, rows[0]!.id], seconds: (performance.now() - started) / 1000 };
}

/** ListRuns pages (newest, deep, filtered) and GetRun, each beside its SQL. */
export async function measureReads(target: ReadTarget): Promise<QueryFigures[]> {
  const { runs, tenantId, database } = target;
  const query = (text: string, values: unknown[]) => () => database.query(text, values);
  say(`  walking ${deepPage - 1} pages of ${pageSize} to page ${deepPage} …`);
  const walk = await walkPages(target);
  say(`  reached page ${walk.page} in ${walk.seconds.toFixed(1)} s (${format((1000 * walk.seconds) / walk.page, 2)} ms a page)`);
  const [first, deep, rawFirst, rawDeep, keyFirst, keyDeep] = await alternate([
    () => runs.listRuns({ pageSize }),
    () => runs.listRuns({ pageSize, pageToken: walk.token }),
    query(serverPage(""), [tenantId]),
    query(serverPage("", true), [tenantId, ...walk.cursor]),
    query(keysetPage(false), [tenantId]),
    query(keysetPage(true), [tenantId, ...walk.cursor]),
  ]);
  const [failed, rawFailed] = await alternate([
    () => runs.listRuns({ pageSize, status: [RunStatus.FAILED] }),
    query(serverPage(byStatus), [tenantId, "FAILED"]),
  ]);
  // The statements of a raw label page (one or two), for EXPLAIN; kept bounded meanwhile.
  let statements: { text: string; values: unknown[] }[] = [];
  const raw: Sql = {
    query: async <Row>(text: string, values: readonly unknown[] = []) => {
      if (statements.length === 2) statements = [];
      statements.push({ text, values: [...values] });
      return (await database.query(text, [...values])).rows as Row[];
    },
    transaction: (work) => work(raw),
  };
  // A label filter's page as the server reads it: listRuns over the raw connection.
  const rawLabels = (labels: Record<string, string>) => () => listRuns(raw, pageTokens, tenantId, { ...everyRun, labels }, pageSize, "");
  const [labelled, rawLabelled] = await alternate([() => runs.listRuns({ pageSize, labels: commonLabel }), rawLabels(commonLabel)]);
  const [rare, rawRare] = await alternate([() => runs.listRuns({ pageSize, labels: rareLabels }), rawLabels(rareLabels)]);
  const { rows: picks } = await database.query<{ id: string }>(
    `select id from runs where tenant_id = $1::uuid order by hashtext(id::text) limit 500`,
    [tenantId],
  );
  let pick = 0;
  const nextId = () => picks[pick++ % picks.length]!.id;
  const getRunSql = `select ${runColumns} from runs r where r.tenant_id = $1::uuid and r.id = $2::uuid`;
  const [getRun, rawGetRun] = await alternate([
    () => runs.getRun({ runId: nextId() }),
    () => database.query(getRunSql, [tenantId, nextId()]),
  ]);
  await explain(database, "page 1", serverPage(""), [tenantId]);
  await explain(database, `page ${walk.page}`, serverPage("", true), [tenantId, ...walk.cursor]);
  await explain(database, "status FAILED", serverPage(byStatus), [tenantId, "FAILED"]);
  for (const [title, labels] of [
    ["label team=team-3", commonLabel],
    ["labels team=team-3, env=dev", rareLabels],
  ] as const) {
    statements = [];
    await rawLabels(labels)();
    for (const [index, statement] of statements.entries()) {
      await explain(database, `${title}, statement ${index + 1} of ${statements.length}`, statement.text, statement.values);
    }
  }
  return [
    { name: "ListRuns page 1", endToEnd: first!, raw: rawFirst!, keyset: keyFirst! },
    { name: `ListRuns page ${walk.page}`, endToEnd: deep!, raw: rawDeep!, keyset: keyDeep! },
    { name: "ListRuns status FAILED", endToEnd: failed!, raw: rawFailed! },
    { name: "ListRuns label team=team-3", endToEnd: labelled!, raw: rawLabelled! },
    { name: "ListRuns labels team=team-3, env=dev", endToEnd: rare!, raw: rawRare! },
    { name: "GetRun", endToEnd: getRun!, raw: rawGetRun! },
  ];
}

/**
 * `/metrics` scrapes end to end, beside the gauges' statements on raw pg: runline_runs'
 * and the queue gauges', and the first form of each (before the `scale` bench's fixes).
 */
export async function measureScrape(target: ReadTarget): Promise<QueryFigures[]> {
  const scrape = async () => {
    const response = await fetch(`${target.serverUrl}/metrics`);
    if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
    await response.text();
  };
  const statements = [runsByStatus, queueByWorkflow, runsByStatusCounted, queueByWorkflowJoinedFirst];
  const samples: number[][] = [[], [], [], [], []];
  for (let round = 0; round < scrapes + 3; round++) {
    const times = [await timed(scrape)];
    for (const statement of statements) times.push(await timed(() => target.database.query(statement)));
    if (round >= 3) times.forEach((milliseconds, index) => samples[index]!.push(milliseconds));
  }
  await explain(target.database, "runline_runs", runsByStatus, []);
  await explain(target.database, "runline_queue_*", queueByWorkflow, []);
  const [scraped, statuses, queue, counted, joined] = samples.map(latency);
  const none = { p50: Number.NaN, p99: Number.NaN };
  return [
    { name: "/metrics scrape", endToEnd: scraped!, raw: { p50: statuses!.p50 + queue!.p50, p99: statuses!.p99 + queue!.p99 } },
    { name: "runline_runs gauge SQL", endToEnd: none, raw: statuses! },
    { name: "runline_queue_* gauges SQL", endToEnd: none, raw: queue! },
    { name: "runline_runs before (count every run)", endToEnd: none, raw: counted! },
    { name: "runline_queue_* before (joined, then grouped)", endToEnd: none, raw: joined! },
  ];
}
