/**
 * CreateRun and BatchCreateRuns: resolve the workflow version, validate the input
 * against its schema, and insert the run with its first status event in one statement.
 *
 * Idempotency is decided by the database: the key row is inserted in the same statement
 * as the run (`on conflict do nothing`), so of N concurrent duplicates exactly one
 * inserts and the others wait on the unique index, then find the winner's run.
 */
import { LRUCache } from "lru-cache";
import type { Sql } from "../db/database.js";
import { createStatementBatcher } from "../db/statement-batcher.js";
import { echoed, invalidArgument, notFound, RunlineError } from "../errors.js";
import { isUuid, newId } from "../ids.js";
import { contentHash } from "../workflows/content-hash.js";
import { validateAgainstSchema } from "../workflows/json-schema.js";
import { maxRunTimeoutMs, type RunDefaults } from "../workflows/workflows.js";
import { insertRunsStatement, insertRunStatement, insertRunWithKeyStatement } from "./lifecycle/create-statements.js";
import { runColumns, type RunRecord } from "./run-record.js";

/** What a caller asks for when creating a run (already decoded from the request). */
export interface CreateRunInput {
  readonly workflow: string;
  readonly workflowVersion: number;
  readonly input: unknown;
  readonly labels: Readonly<Record<string, string>>;
  readonly idempotencyKey: string;
  readonly webhook: { readonly url: string; readonly intermediateStatus: boolean } | undefined;
  readonly timeoutMs: number | undefined;
  readonly maxAttempts: number;
  readonly priority: number;
  readonly scheduleTime: Date | undefined;
}

/** The run created, or found again by its idempotency key. */
export interface CreateRunResult {
  readonly run: RunRecord;
  readonly replayed: boolean;
}

/** What a label key may be (run labels, and the label filters that match them). */
export const labelKeyPattern = /^[a-z0-9]([a-z0-9_./-]{0,61}[a-z0-9])?$/i;

const dayMs = 24 * 60 * 60 * 1000;
/** How far ahead `schedule_time` may be: a year (runs_service.proto, CreateRunRequest.schedule_time). */
export const maxScheduleAheadMs = 366 * dayMs;

/** A run's labels within their limits (CreateRunRequest.labels); `field` prefixes the field names. */
export function checkLabels(labels: Readonly<Record<string, string>>, field: string): void {
  const entries = Object.entries(labels);
  if (entries.length > 64) throw invalidArgument(`${field}labels`, "at most 64 labels");
  for (const [key, value] of entries) {
    if (!labelKeyPattern.test(key))
      throw invalidArgument(`${field}labels`, `key "${key}" must be 1-63 letters, digits, '_', '.', '/' or '-'`);
    if (value.length > 255) throw invalidArgument(`${field}labels[${key}]`, "must be at most 255 characters");
  }
}

function checkCreateInput(request: CreateRunInput, field: string): void {
  if (request.workflow === "") throw invalidArgument(`${field}workflow`, "is required");
  if (request.workflowVersion < 0) throw invalidArgument(`${field}workflowVersion`, "must not be negative");
  if (request.maxAttempts < 0 || request.maxAttempts > 100) throw invalidArgument(`${field}maxAttempts`, "must be between 0 and 100");
  if (request.priority < -1000 || request.priority > 1000) throw invalidArgument(`${field}priority`, "must be between -1000 and 1000");
  if (request.idempotencyKey.length > 255) throw invalidArgument(`${field}idempotencyKey`, "must be at most 255 characters");
  if (request.timeoutMs !== undefined && request.timeoutMs <= 0) throw invalidArgument(`${field}timeout`, "must be positive");
  if (request.timeoutMs !== undefined && request.timeoutMs > maxRunTimeoutMs)
    throw invalidArgument(`${field}timeout`, "must be at most 366 days (31622400s)");
  // A past schedule_time just means "now"; one further ahead than a year is a mistake
  // (seconds sent as milliseconds, a year typo), not a plan.
  if (request.scheduleTime !== undefined && request.scheduleTime.getTime() - Date.now() > maxScheduleAheadMs) {
    throw invalidArgument(`${field}scheduleTime`, "must be at most 366 days ahead");
  }
  checkLabels(request.labels, field);
  if (request.webhook !== undefined && request.webhook.url !== "") {
    let url: URL | undefined;
    try {
      url = new URL(request.webhook.url);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw invalidArgument(`${field}webhook.url`, "must be an absolute http or https URL");
    }
  }
}

/** A resolved workflow version, as run creation needs it. */
export interface TargetRow {
  workflow_id: string;
  version: number;
  input_schema: unknown;
  defaults: RunDefaults;
  content_hash: string;
}

// Primary keys of workflows (tenant_id, id) or its (tenant_id, slug) unique index, then
// the workflow_versions primary key.
const resolveTargetById = `
  select w.id as workflow_id, v.version, v.input_schema, v.defaults, v.content_hash
  from workflows w
  join workflow_versions v on v.tenant_id = w.tenant_id and v.workflow_id = w.id
   and v.version = case when $3::int = 0 then w.latest_version else $3::int end
  where w.tenant_id = $1::uuid and w.id = $2::uuid`;
const resolveTargetBySlug = resolveTargetById.replace("w.id = $2::uuid", "w.slug = $2::text");

/**
 * Resolved versions kept between calls, so CreateRun is one round trip. Versions are
 * immutable and slugs never change owner, so an entry can only become stale by a new
 * latest version; the insert statements re-check "still latest" in their WHERE and a
 * stale entry is dropped and resolved again.
 */
export interface RunTargetCache {
  get(key: string): TargetRow | undefined;
  set(key: string, target: TargetRow): void;
  delete(key: string): void;
}

/** A bounded cache of resolved versions (entries live `ttlMs`, default 60 s). */
export function createRunTargetCache(ttlMs = 60_000, maxEntries = 10_000): RunTargetCache {
  return new LRUCache<string, TargetRow>({ max: maxEntries, ttl: ttlMs });
}

async function resolveTarget(sql: Sql, tenantId: string, workflow: string, version: number): Promise<TargetRow> {
  const [row] = await sql.query<TargetRow>(isUuid(workflow) ? resolveTargetById : resolveTargetBySlug, [tenantId, workflow, version]);
  if (row === undefined)
    throw notFound(version === 0 ? "workflow" : "workflow version", version === 0 ? workflow : `${workflow}@${version}`);
  return row;
}

// Primary key of idempotency_keys, then of runs.
const findRunByKey = `
  select k.request_hash, ${runColumns}
  from idempotency_keys k join runs r on r.tenant_id = k.tenant_id and r.id = k.run_id
  where k.tenant_id = $1::uuid and k.key = $2::text`;

/**
 * The run a live idempotency key names, as a replay when `hash` is the request the key
 * was first used with; ALREADY_EXISTS when it is another request; undefined when the key
 * names no run (never used, expired and swept, or its run deleted).
 */
export async function replayByKey(sql: Sql, tenantId: string, key: string, hash: string): Promise<CreateRunResult | undefined> {
  const [existing] = await sql.query<RunRecord & { request_hash: string }>(findRunByKey, [tenantId, key]);
  if (existing === undefined) return undefined;
  if (existing.request_hash !== hash) {
    throw new RunlineError(
      "already_exists",
      `idempotency key "${echoed(key)}" was used with a different request`,
      "IDEMPOTENCY_KEY_REUSED",
    );
  }
  const { request_hash: _hash, ...run } = existing;
  return { run, replayed: true };
}

function requestHash(request: CreateRunInput): string {
  const { idempotencyKey: _key, ...rest } = request;
  return contentHash({ ...rest, scheduleTime: rest.scheduleTime?.toISOString() });
}

/**
 * The version's default timeout, at most maxRunTimeoutMs: versions stored before
 * CreateWorkflowVersion bounded it keep theirs (their content hash covers it), and the
 * database refuses a run above the bound (migration 0004).
 */
function inheritedTimeoutMs(defaults: RunDefaults): number | null {
  return defaults.timeoutMs === undefined ? null : Math.min(defaults.timeoutMs, maxRunTimeoutMs);
}

type TargetCache = Map<string, Promise<TargetRow>>;

/** A run's columns as the insert statements take them, by name. */
interface RunValues {
  readonly tenantId: string;
  readonly runId: string;
  readonly workflowId: string;
  readonly version: number;
  /** JSON text. */
  readonly input: string;
  /** JSON text. */
  readonly labels: string;
  readonly maxAttempts: number;
  readonly priority: number;
  readonly timeoutMs: number | null;
  readonly backoffMs: number;
  readonly createdBy: string;
  readonly idempotencyKey: string | null;
  readonly webhookUrl: string | null;
  readonly webhookIntermediate: boolean;
  readonly scheduleTime: Date | null;
}

/** Where a run's version came from: the shared cache (then "latest" is re-checked) or a fresh read. */
interface PreparedRun {
  readonly values: RunValues;
  readonly cacheKey: string;
  /** True when "latest" came from the shared cache and must be re-checked on insert. */
  readonly checkLatest: boolean;
}

/**
 * One run of a batch: `field` prefixes the names of its request's fields in errors
 * (`requests[2].`, or `template.` for a fan-out's), `inputField` names its input
 * (default `${field}input`; a fan-out's is `inputs[2]`).
 */
export interface BatchEntry {
  readonly request: CreateRunInput;
  readonly field: string;
  readonly inputField?: string;
}

/** Checks the request, resolves its version (once per batch) and validates its input. */
async function prepareRun(
  sql: Sql,
  tenantId: string,
  createdBy: string,
  request: CreateRunInput,
  field: string,
  targets: TargetCache,
  shared?: RunTargetCache,
  inputField = `${field}input`,
): Promise<PreparedRun> {
  checkCreateInput(request, field);
  const cacheKey = `${tenantId}/${request.workflow}@${request.workflowVersion}`;
  const cached = shared?.get(cacheKey);
  let target = cached === undefined ? targets.get(cacheKey) : Promise.resolve(cached);
  if (target === undefined) targets.set(cacheKey, (target = resolveTarget(sql, tenantId, request.workflow, request.workflowVersion)));
  const resolved = await target;
  if (cached === undefined) shared?.set(cacheKey, resolved);
  validateAgainstSchema(request.input, resolved.input_schema, inputField, resolved.content_hash);
  const defaults = resolved.defaults;
  const values: RunValues = {
    tenantId,
    runId: newId(),
    workflowId: resolved.workflow_id,
    version: resolved.version,
    input: JSON.stringify(request.input ?? null),
    labels: JSON.stringify(request.labels),
    maxAttempts: request.maxAttempts || defaults.maxAttempts || 1,
    priority: request.priority,
    timeoutMs: request.timeoutMs ?? inheritedTimeoutMs(defaults),
    backoffMs: defaults.backoffMs ?? 1000,
    createdBy,
    idempotencyKey: request.idempotencyKey || null,
    webhookUrl: request.webhook?.url || null,
    webhookIntermediate: request.webhook?.intermediateStatus ?? false,
    scheduleTime: request.scheduleTime ?? null,
  };
  return { values, cacheKey, checkLatest: cached !== undefined && request.workflowVersion === 0 };
}

/**
 * Creates one run (see the module comment for idempotency). With `shared`, resolved
 * versions are reused across calls; a stale "latest" is detected by the insert and the
 * call starts again from a fresh read.
 */
export async function createRun(
  sql: Sql,
  tenantId: string,
  createdBy: string,
  request: CreateRunInput,
  field = "",
  shared?: RunTargetCache,
): Promise<CreateRunResult> {
  const prepared = await prepareRun(sql, tenantId, createdBy, request, field, new Map(), shared);
  const values = { ...prepared.values, checkLatest: prepared.checkLatest };
  const stale = () => {
    shared?.delete(prepared.cacheKey);
    return createRun(sql, tenantId, createdBy, request, field, undefined);
  };
  if (request.idempotencyKey === "") {
    const [run] = await sql.query<RunRecord>(insertRunStatement.text, insertRunStatement.values(values));
    return run === undefined ? stale() : { run, replayed: false };
  }
  const hash = requestHash(request);
  const [created] = await sql.query<RunRecord>(
    insertRunWithKeyStatement.text,
    insertRunWithKeyStatement.values({ ...values, requestHash: hash }),
  );
  if (created !== undefined) return { run: created, replayed: false };
  const replay = await replayByKey(sql, tenantId, request.idempotencyKey, hash);
  if (replay === undefined && prepared.checkLatest) return stale();
  if (replay === undefined) {
    // The key's run was deleted between the two statements: a retry starts afresh.
    throw new RunlineError("aborted", "the run of this idempotency key changed concurrently; retry", "IDEMPOTENCY_KEY_RACE");
  }
  return replay;
}

/** insertRunsStatement's parameters for `runs` of one tenant; `checkLatest` for each. */
function runsParameters(tenantId: string, runs: readonly RunValues[], checkLatest: boolean | readonly boolean[]) {
  return {
    tenantId,
    runIds: runs.map((run) => run.runId),
    workflowIds: runs.map((run) => run.workflowId),
    versions: runs.map((run) => run.version),
    inputs: runs.map((run) => run.input),
    labels: runs.map((run) => run.labels),
    maxAttempts: runs.map((run) => run.maxAttempts),
    priorities: runs.map((run) => run.priority),
    timeoutMs: runs.map((run) => run.timeoutMs),
    backoffMs: runs.map((run) => run.backoffMs),
    createdBy: runs.map((run) => run.createdBy),
    webhookUrls: runs.map((run) => run.webhookUrl),
    webhookIntermediates: runs.map((run) => run.webhookIntermediate),
    scheduleTimes: runs.map((run) => run.scheduleTime),
    checkLatest: typeof checkLatest === "boolean" ? runs.map(() => checkLatest) : checkLatest,
  };
}

/** Creates one run; see createRunCreator. */
export type RunCreator = (tenantId: string, createdBy: string, request: CreateRunInput, field?: string) => Promise<CreateRunResult>;

/** Runs of one statement at most. */
const maxRunsPerStatement = 64;

/**
 * CreateRun for a server: createRun, except that concurrent calls of one tenant without
 * an idempotency key share one insert statement (statement-batcher.ts): one round trip,
 * one plan and one commit for many runs, where each call used to pay its own. Calls with
 * a key keep their own statement (the key's claim decides between duplicates). A run
 * whose cached "latest" version went stale is left out by the statement and created
 * again from a fresh read, alone; a batch that fails is retried call by call, so one
 * call's error is never another's. The runs of one statement share a create_time (the
 * transaction's); pages order them by id after it, as any runs with equal times.
 */
export function createRunCreator(sql: Sql, shared: RunTargetCache): RunCreator {
  const batcher = createStatementBatcher<string, PreparedRun, RunRecord | undefined>(
    maxRunsPerStatement,
    async (tenantId, runs) => {
      const rows = await sql.query<RunRecord>(
        insertRunsStatement.text,
        insertRunsStatement.values(
          runsParameters(
            tenantId,
            runs.map((run) => run.values),
            runs.map((run) => run.checkLatest),
          ),
        ),
      );
      const byId = new Map(rows.map((run) => [run.id, run]));
      return runs.map((run) => byId.get(run.values.runId));
    },
    2,
  );
  return async (tenantId, createdBy, request, field = "") => {
    if (request.idempotencyKey !== "") return createRun(sql, tenantId, createdBy, request, field, shared);
    const prepared = await prepareRun(sql, tenantId, createdBy, request, field, new Map(), shared);
    const run = await batcher.submit(tenantId, tenantId, prepared);
    if (run !== undefined) return { run, replayed: false };
    shared.delete(prepared.cacheKey);
    return createRun(sql, tenantId, createdBy, request, field, undefined);
  };
}

/**
 * Creates every run or none (one transaction). Versions are resolved once per distinct
 * workflow; runs without an idempotency key go in one statement, the others one by one.
 */
export async function createRuns(sql: Sql, tenantId: string, createdBy: string, requests: readonly BatchEntry[]): Promise<RunRecord[]> {
  if (requests.length === 0) throw invalidArgument("requests", "at least one run is required");
  if (requests.length > 1000) throw invalidArgument("requests", "at most 1000 runs per batch");
  return sql.transaction(async (transaction) => {
    const targets: TargetCache = new Map();
    const prepared: RunValues[] = [];
    // Read fresh inside the transaction (no shared cache): nothing here needs re-checking.
    for (const { request, field, inputField } of requests)
      prepared.push((await prepareRun(transaction, tenantId, createdBy, request, field, targets, undefined, inputField)).values);
    const plain = prepared.filter((_row, index) => requests[index]!.request.idempotencyKey === "");
    const inserted =
      plain.length === 0
        ? []
        : await transaction.query<RunRecord>(insertRunsStatement.text, insertRunsStatement.values(runsParameters(tenantId, plain, false)));
    const byId = new Map(inserted.map((run) => [run.id, run]));
    const runs: RunRecord[] = [];
    for (const [index, { request, field }] of requests.entries()) {
      if (request.idempotencyKey === "") runs.push(byId.get(prepared[index]!.runId)!);
      else runs.push((await createRun(transaction, tenantId, createdBy, request, field)).run);
    }
    return runs;
  });
}
