/**
 * RerunRun: a new run that repeats a finished one, with its workflow version (not the
 * latest), input and settings, and labels overridable per key. The insert copies the
 * original's row in SQL (lifecycle/create-statements.ts), so the input is never decoded
 * and re-encoded, and it is guarded by the original's terminal status in its WHERE.
 *
 * The idempotency key works as CreateRun's and shares its table: the key row is claimed
 * in the statement that inserts the run, and a live key returns the run it names when
 * the request is the same (replay) or is ALREADY_EXISTS otherwise.
 */
import type { Sql } from "../db/database.js";
import { failedPrecondition, invalidArgument, notFound, RunlineError } from "../errors.js";
import { newId } from "../ids.js";
import { contentHash } from "../workflows/content-hash.js";
import { checkLabels, replayByKey, type CreateRunResult } from "./create-run.js";
import { insertRerunStatement, insertRerunWithKeyStatement } from "./lifecycle/create-statements.js";
import type { RunRecord } from "./run-record.js";
import { getRun } from "./run-queries.js";
import { isTerminal } from "./run-status.js";

/** What a caller asks for when rerunning (already decoded from the request). */
export interface RerunRunInput {
  readonly runId: string;
  /** Labels that replace the original's value for their key; the others are kept. */
  readonly labels: Readonly<Record<string, string>>;
  readonly idempotencyKey: string;
}

// Over what the caller sent, not the merged labels: the original's labels never change,
// so the same request always means the same run. `rerunOf` keeps these hashes apart from
// CreateRun's, whose requests have no such field.
function requestHash(request: RerunRunInput): string {
  return contentHash({ rerunOf: request.runId, labels: request.labels });
}

/** The original, or the run a key names when the original is gone since that key's first use. */
type Found = { readonly kind: "original"; readonly run: RunRecord } | { readonly kind: "replayed"; readonly result: CreateRunResult };

async function findOriginal(sql: Sql, tenantId: string, request: RerunRunInput): Promise<Found> {
  try {
    return { kind: "original", run: await getRun(sql, tenantId, request.runId) };
  } catch (error) {
    const gone = error instanceof RunlineError && error.kind === "not_found" && request.idempotencyKey !== "";
    const replay = gone ? await replayByKey(sql, tenantId, request.idempotencyKey, requestHash(request)) : undefined;
    if (replay === undefined) throw error;
    return { kind: "replayed", result: replay };
  }
}

/**
 * Creates the rerun of `request.runId` for the caller `createdBy`. NOT_FOUND when the
 * original is unknown or another tenant's; FAILED_PRECONDITION while it is live.
 */
export async function rerunRun(sql: Sql, tenantId: string, createdBy: string, request: RerunRunInput): Promise<CreateRunResult> {
  checkLabels(request.labels, "");
  if (request.idempotencyKey.length > 255) throw invalidArgument("idempotencyKey", "must be at most 255 characters");
  const found = await findOriginal(sql, tenantId, request);
  if (found.kind === "replayed") return found.result;
  const original = found.run;
  if (!isTerminal(original.status)) {
    throw failedPrecondition(`run is ${original.status}; only finished runs can be rerun (cancel it first)`, "RUN_NOT_FINISHED");
  }
  const labels = { ...original.labels, ...request.labels };
  checkLabels(labels, "");
  const values = { tenantId, runId: newId(), rerunOf: original.id, labels: JSON.stringify(labels), createdBy };
  if (request.idempotencyKey === "") {
    const [run] = await sql.query<RunRecord>(insertRerunStatement.text, insertRerunStatement.values({ ...values, idempotencyKey: null }));
    // Deleted between the read and the insert.
    if (run === undefined) throw notFound("run", request.runId);
    return { run, replayed: false };
  }
  const hash = requestHash(request);
  const [created] = await sql.query<RunRecord>(
    insertRerunWithKeyStatement.text,
    insertRerunWithKeyStatement.values({ ...values, idempotencyKey: request.idempotencyKey, requestHash: hash }),
  );
  if (created !== undefined) return { run: created, replayed: false };
  const replay = await replayByKey(sql, tenantId, request.idempotencyKey, hash);
  // No live key and no run: the original was deleted between the read and the insert.
  if (replay === undefined) throw notFound("run", request.runId);
  return replay;
}
