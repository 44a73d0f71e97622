/**
 * What a restricted access token may see: named runs, runs of named workflows, runs
 * carrying labels (combined with AND). Outside its restriction everything is NOT_FOUND,
 * exactly as another tenant's resource is, so a token cannot even learn what exists.
 * These are the rules; api/access-restrictions.ts applies them to each RPC.
 *
 * A run's workflow and labels never change after it is created, so checking them before
 * a call cannot race with the call itself.
 */
import type { Sql } from "../db/database.js";
import { invalidArgument, notFound, RunlineError } from "../errors.js";
import { isUuid } from "../ids.js";
import type { RunFilter } from "../runs/run-queries.js";

/** A token's restriction; an absent part does not restrict. */
export interface AccessRestriction {
  /** Only these runs (lower-case ids). */
  readonly runIds: ReadonlySet<string> | undefined;
  /** Only these workflows and their runs: id (lower-case) → slug. */
  readonly workflows: ReadonlyMap<string, string> | undefined;
  /** Only runs carrying every one of these labels. */
  readonly labels: Readonly<Record<string, string>> | undefined;
}

/** A run's facts a restriction looks at. */
interface RunFacts {
  readonly id: string;
  readonly workflowId: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Whether deciding on a run needs more than its id. */
function needsRunFacts(restriction: AccessRestriction): boolean {
  return restriction.workflows !== undefined || restriction.labels !== undefined;
}

/** Whether the run lies inside the restriction. */
function allowsRun(restriction: AccessRestriction, run: RunFacts): boolean {
  if (restriction.runIds !== undefined && !restriction.runIds.has(run.id.toLowerCase())) return false;
  if (restriction.workflows !== undefined && !restriction.workflows.has(run.workflowId.toLowerCase())) return false;
  return Object.entries(restriction.labels ?? {}).every(([key, value]) => run.labels[key] === value);
}

/** Whether a workflow named by id or slug lies inside the restriction. */
export function allowsWorkflow(restriction: AccessRestriction, workflow: string): boolean {
  if (restriction.workflows === undefined) return true;
  if (isUuid(workflow)) return restriction.workflows.has(workflow.toLowerCase());
  return [...restriction.workflows.values()].includes(workflow);
}

// Primary key of runs. Only the immutable facts, not the run's input or output.
const selectRunFacts = `select id, workflow_id as "workflowId", labels from runs where tenant_id = $1::uuid and id = $2::uuid`;

/**
 * NOT_FOUND, worded as for an unknown run, unless the run exists in the tenant and lies
 * inside the restriction. An empty id is left to the handler (INVALID_ARGUMENT).
 */
export async function checkRunAllowed(sql: Sql, tenantId: string, restriction: AccessRestriction, runId: string): Promise<void> {
  if (runId === "") return;
  if (!isUuid(runId)) throw notFound("run", runId);
  if (restriction.runIds !== undefined && !restriction.runIds.has(runId.toLowerCase())) throw notFound("run", runId);
  if (!needsRunFacts(restriction)) return;
  const [run] = await sql.query<RunFacts>(selectRunFacts, [tenantId, runId]);
  if (run === undefined || !allowsRun(restriction, run)) throw notFound("run", runId);
}

/**
 * `filter` narrowed to the restriction, for ListRuns and SearchRuns: the database pages
 * only allowed runs, so pages are full and page tokens (bound to the narrowed filter)
 * stay valid. A filter label that contradicts a restricted one matches nothing.
 */
export function narrowRunFilter(filter: RunFilter, restriction: AccessRestriction): RunFilter {
  const labels = { ...filter.labels };
  let contradicts = false;
  for (const [key, value] of Object.entries(restriction.labels ?? {})) {
    if (labels[key] !== undefined && labels[key] !== value) contradicts = true;
    labels[key] = value;
  }
  return {
    ...filter,
    labels,
    runIds: contradicts ? [] : restriction.runIds === undefined ? filter.runIds : [...restriction.runIds],
    workflowIds: restriction.workflows === undefined ? filter.workflowIds : [...restriction.workflows.keys()],
  };
}

/** A run a restricted token asks to create: its workflow (id or slug) and labels. */
export interface RunToCreate {
  readonly workflow: string;
  readonly labels: Record<string, string>;
  /** Where the request holds these, for error messages (`run.`, `requests[2].`). */
  readonly field: string;
}

/**
 * Checks a run a restricted token creates and gives it the restriction's labels, so the
 * token can see what it created: a token restricted to named runs creates none
 * (PERMISSION_DENIED), a workflow outside it is NOT_FOUND (as an unknown one), a label
 * given another value is INVALID_ARGUMENT naming it. Mutates `run.labels`. A rerun
 * passes an empty workflow (the original's, already checked) and its label overrides.
 */
export function admitCreatedRun(restriction: AccessRestriction, run: RunToCreate): void {
  if (restriction.runIds !== undefined) {
    throw new RunlineError(
      "permission_denied",
      "this access token is restricted to named runs and cannot create runs",
      "ACCESS_TOKEN_RESTRICTED_TO_RUNS",
    );
  }
  if (run.workflow !== "" && !allowsWorkflow(restriction, run.workflow)) throw notFound("workflow", run.workflow);
  for (const [key, value] of Object.entries(restriction.labels ?? {})) {
    const given = run.labels[key];
    if (given !== undefined && given !== value)
      throw invalidArgument(`${run.field}labels[${key}]`, `this access token creates only runs labelled ${key}=${value}`);
    run.labels[key] = value;
  }
}
