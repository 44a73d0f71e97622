/**
 * Reading runs: one by id, and pages of them newest first with filters (ListRuns and
 * SearchRuns share this). Keyset pagination on (create_time, id): both are immutable,
 * so runs inserted while a caller pages never shift the pages (none skipped or repeated).
 */
import type { Sql } from "../db/database.js";
import { invalidArgument, notFound } from "../errors.js";
import { isUuid } from "../ids.js";
import { contentHash } from "../workflows/content-hash.js";
import type { PageTokens } from "./page-token.js";
import { runColumns, type RunRecord } from "./run-record.js";
import type { RunStatus } from "./run-status.js";

// Primary key (tenant_id, id).
const selectRun = `select ${runColumns} from runs r where r.tenant_id = $1::uuid and r.id = $2::uuid`;

/** A run by id; NOT_FOUND when unknown or another tenant's. */
export async function getRun(sql: Sql, tenantId: string, runId: string): Promise<RunRecord> {
  if (runId === "") throw invalidArgument("runId", "is required");
  if (!isUuid(runId)) throw notFound("run", runId);
  const [run] = await sql.query<RunRecord>(selectRun, [tenantId, runId]);
  if (run === undefined) throw notFound("run", runId);
  return run;
}

/** ListRuns/SearchRuns filters; every field optional, combined with AND. */
export interface RunFilter {
  readonly statuses: readonly RunStatus[];
  readonly workflow: string;
  readonly createdBy: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createTimeAfter: Date | undefined;
  readonly createTimeBefore: Date | undefined;
  readonly updateTimeAfter: Date | undefined;
  readonly updateTimeBefore: Date | undefined;
  /** Only these runs (an access token's restriction; empty matches none). */
  readonly runIds?: readonly string[] | undefined;
  /** Only runs of these workflows, by id (an access token's restriction). */
  readonly workflowIds?: readonly string[] | undefined;
}

/** The filter that matches every run; spread it and set the fields a caller filters by. */
export const everyRun: RunFilter = {
  statuses: [],
  workflow: "",
  createdBy: "",
  labels: {},
  createTimeAfter: undefined,
  createTimeBefore: undefined,
  updateTimeAfter: undefined,
  updateTimeBefore: undefined,
};

/** One page of runs. */
export interface RunPage {
  readonly runs: RunRecord[];
  readonly nextPageToken: string;
}

function filterHash(filter: RunFilter): string {
  return contentHash({
    ...filter,
    statuses: [...filter.statuses].sort(),
    createTimeAfter: filter.createTimeAfter?.toISOString(),
    createTimeBefore: filter.createTimeBefore?.toISOString(),
    updateTimeAfter: filter.updateTimeAfter?.toISOString(),
    updateTimeBefore: filter.updateTimeBefore?.toISOString(),
  }).slice(0, 32);
}

/**
 * A label filter (`labels` is the parameter holding the filter's JSON object) in the form
 * runs_tenant_labels indexes (migration 0010): the run's labels and the filter each
 * nested under the tenant id, so a containment finds only the tenant's matching runs
 * (it implies `r.tenant_id = $1`). The left side must stay exactly the index's
 * expression, or the planner cannot use it. $1 is the tenant (uuid); its text form is
 * the one `tenant_id::text` gives.
 */
export function labelsCondition(labels: string): string {
  return `jsonb_set('{}'::jsonb, array[r.tenant_id::text], r.labels) @> jsonb_set('{}'::jsonb, array[$1::uuid::text], ${labels}::jsonb)`;
}

/**
 * Runs a label filter's walk reads per run of the page (limit + 1) before it gives way to
 * runs_tenant_labels: a label on 1 in 40 of the tenant's runs (matching the other
 * filters) or more is found by the walk.
 */
const labelWalkRowsPerRun = 40;

/**
 * Builds the WHERE clause, but for the tenant and the labels (listRuns adds them). Each
 * equality filter has an index that leads with (tenant_id, <column>) and continues
 * (create_time desc, id desc): runs_by_status, runs_by_workflow, runs_by_creator; the rest
 * runs_newest. An access token's run ids (at most 100) are probed by primary key, its
 * workflows (at most 20) through runs_by_workflow; its label restriction is merged into
 * `labels`, whose parameter is returned.
 */
function whereClause(tenantId: string, filter: RunFilter): { conditions: string[]; parameters: unknown[]; labels: string | undefined } {
  const parameters: unknown[] = [tenantId];
  const conditions: string[] = [];
  const add = (condition: string, value: unknown) => {
    parameters.push(value);
    conditions.push(condition.replace("?", `$${parameters.length}`));
  };
  // One status as an equality: then runs_by_status hands rows over in page order and the
  // page stops at its limit. As `= any(array)` the planner read every run of the tenant in
  // that status through a bitmap and sorted them: in the `scale` bench at 220,000 runs,
  // 2,239 FAILED runs read for a page of 50, 5.4 ms instead of 0.3 ms, growing with them.
  if (filter.statuses.length === 1) add("r.status = ?::text", filter.statuses[0]);
  else if (filter.statuses.length > 1) add("r.status = any(?::text[])", filter.statuses);
  if (filter.workflow !== "") {
    add(
      isUuid(filter.workflow)
        ? "r.workflow_id = ?::uuid"
        : "r.workflow_id = (select w.id from workflows w where w.tenant_id = $1::uuid and w.slug = ?::text)",
      filter.workflow,
    );
  }
  if (filter.runIds !== undefined) add("r.id = any(?::uuid[])", filter.runIds);
  if (filter.workflowIds !== undefined) add("r.workflow_id = any(?::uuid[])", filter.workflowIds);
  if (filter.createdBy !== "") add("r.created_by = ?::text", filter.createdBy);
  if (filter.createTimeAfter !== undefined) add("r.create_time >= ?::timestamptz", filter.createTimeAfter);
  if (filter.createTimeBefore !== undefined) add("r.create_time < ?::timestamptz", filter.createTimeBefore);
  if (filter.updateTimeAfter !== undefined) add("r.update_time >= ?::timestamptz", filter.updateTimeAfter);
  if (filter.updateTimeBefore !== undefined) add("r.update_time < ?::timestamptz", filter.updateTimeBefore);
  if (Object.keys(filter.labels).length === 0) return { conditions, parameters, labels: undefined };
  parameters.push(JSON.stringify(filter.labels));
  return { conditions, parameters, labels: `$${parameters.length}` };
}

/** A row of a page, with its cursor's time as Postgres prints it. */
type PageRow = RunRecord & { cursor_time: string };

/** A page of runs matching `filter`, newest first. */
export async function listRuns(
  sql: Sql,
  tokens: PageTokens,
  tenantId: string,
  filter: RunFilter,
  limit: number,
  pageToken: string,
): Promise<RunPage> {
  const hash = filterHash(filter);
  const { conditions, parameters, labels } = whereClause(tenantId, filter);
  const pageOf = (rows: PageRow[]): RunPage => {
    const more = rows.length > limit;
    const runs = more ? rows.slice(0, limit) : rows;
    const last = runs[runs.length - 1];
    const nextPageToken = more && last !== undefined ? tokens.seal(hash, [last.cursor_time, last.id]) : "";
    return { runs: runs.map(({ cursor_time: _cursor, ...run }) => run), nextPageToken };
  };
  if (pageToken !== "") {
    const [createTime, id] = tokens.open(pageToken, hash);
    parameters.push(createTime, id);
    // The cursor keeps Postgres' microseconds (as text): a JS Date would round them away.
    conditions.push(`(r.create_time, r.id) < ($${parameters.length - 1}::timestamptz, $${parameters.length}::uuid)`);
  }
  parameters.push(limit + 1);
  const select = `select ${runColumns}, r.create_time::text as cursor_time`;
  const page = `order by r.create_time desc, r.id desc limit $${parameters.length}::int`;
  const inTenant = ["r.tenant_id = $1::uuid", ...conditions].join(" and ");
  if (labels === undefined) return pageOf(await sql.query<PageRow>(`${select} from runs r where ${inTenant} ${page}`, parameters));
  // Labels: the tenant's runs in page order first, at most labelWalkRowsPerRun per run
  // wanted, filtered (no index serves `r.labels @>`, so the planner cannot pick another
  // plan); then, if that came short, runs_tenant_labels alone. Left to the planner, both
  // in one statement, it took a tenant for 0.5 % of the runs (migration 0003) on top of
  // the index's own statistics, which already count the tenant: it read every matching
  // run of a big tenant through the index and sorted them, even for a label on 1 run in
  // 10 (26 ms against under 1 ms walking, at 60,000 runs). The fallback has no
  // `tenant_id =`, which the label condition implies: with it the planner also AND-ed the
  // index with the tenant's whole range of a btree index. The walk's limit is a subquery
  // so that the planner cannot read its value: with it, and a tenant taken for 0.5 % of the
  // runs, 2,040 looked like the whole tenant, and it read and sorted every run of it.
  const walked = await sql.query<PageRow>(
    `${select} from (select * from runs r where ${inTenant} order by r.create_time desc, r.id desc
       limit (select $${parameters.length}::int * ${labelWalkRowsPerRun})) r
     where r.labels @> ${labels}::jsonb ${page}`,
    parameters,
  );
  if (walked.length > limit) return pageOf(walked);
  return pageOf(
    await sql.query<PageRow>(`${select} from runs r where ${[labelsCondition(labels), ...conditions].join(" and ")} ${page}`, parameters),
  );
}
