/**
 * Workflows and their immutable, content-hashed versions. Cold paths, so they go through
 * MikroORM's EntityManager; run creation reads versions through `resolveRunTarget`, which
 * caches the immutable parts.
 */
import { LockMode, type EntityManager, type InferEntity } from "@mikro-orm/postgresql";
import { invalidArgument, notFound, RunlineError } from "../errors.js";
import { isUuid, newId } from "../ids.js";
import { WorkflowEntity, WorkflowVersionEntity } from "../db/entities.js";
import { contentHash } from "./content-hash.js";
import { checkSchema } from "./json-schema.js";

/**
 * The longest run `timeout` accepted, a year (runs_service.proto, CreateRunRequest.timeout),
 * for a version's default as for CreateRun. Here, not in runs/: runs/ reads workflows/,
 * never the reverse.
 */
export const maxRunTimeoutMs = 366 * 24 * 60 * 60 * 1000;

/** Defaults that runs of a version take when CreateRun does not say. */
export interface RunDefaults {
  readonly timeoutMs?: number;
  readonly maxAttempts?: number;
  readonly backoffMs?: number;
  readonly concurrencyLimit?: number;
}

/** A workflow as stored. */
export interface Workflow {
  readonly id: string;
  readonly slug: string;
  readonly latestVersion: number;
  readonly createTime: Date;
}

/** One immutable version. */
export interface WorkflowVersion {
  readonly workflowId: string;
  readonly version: number;
  readonly definition: unknown;
  readonly inputSchema: unknown;
  readonly defaults: RunDefaults;
  readonly contentHash: string;
  readonly createTime: Date;
}

/** The content of a version, as a caller supplies it. */
export interface VersionContent {
  readonly definition: unknown;
  readonly inputSchema: unknown;
  readonly defaults: RunDefaults;
}

const slugPattern = /^[a-z][a-z0-9-]{0,62}$/;

function checkContent(content: VersionContent): void {
  if (content.definition === undefined || content.definition === null)
    throw invalidArgument("definition", "is required and must not be null");
  checkSchema(content.inputSchema, "inputSchema");
  const { maxAttempts, concurrencyLimit, timeoutMs, backoffMs } = content.defaults;
  if (maxAttempts !== undefined && (maxAttempts < 0 || maxAttempts > 100))
    throw invalidArgument("defaults.maxAttempts", "must be between 0 and 100");
  if (concurrencyLimit !== undefined && concurrencyLimit < 0) throw invalidArgument("defaults.concurrencyLimit", "must not be negative");
  if (timeoutMs !== undefined && timeoutMs <= 0) throw invalidArgument("defaults.timeout", "must be positive");
  // The bound of CreateRun's own timeout: a default is a timeout runs take.
  if (timeoutMs !== undefined && timeoutMs > maxRunTimeoutMs)
    throw invalidArgument("defaults.timeout", "must be at most 366 days (31622400s)");
  if (backoffMs !== undefined && backoffMs < 0) throw invalidArgument("defaults.backoff", "must not be negative");
}

function hashOf(content: VersionContent): string {
  return contentHash({ definition: content.definition, inputSchema: content.inputSchema ?? null, defaults: content.defaults });
}

type WorkflowRow = InferEntity<typeof WorkflowEntity>;
type VersionRow = InferEntity<typeof WorkflowVersionEntity>;

function toWorkflow(row: WorkflowRow): Workflow {
  return { id: row.id, slug: row.slug, latestVersion: row.latestVersion, createTime: row.createTime };
}

function toVersion(row: VersionRow): WorkflowVersion {
  return {
    workflowId: row.workflowId,
    version: row.version,
    definition: row.definition,
    inputSchema: row.inputSchema ?? undefined,
    defaults: row.defaults as RunDefaults,
    contentHash: row.contentHash,
    createTime: row.createTime,
  };
}

/** Creates a workflow and its version 1. */
export async function createWorkflow(
  em: EntityManager,
  tenantId: string,
  slug: string,
  content: VersionContent,
): Promise<{ workflow: Workflow; version: WorkflowVersion }> {
  if (!slugPattern.test(slug)) throw invalidArgument("slug", "must be 1-63 lowercase letters, digits or dashes, starting with a letter");
  checkContent(content);
  const id = newId();
  const now = new Date();
  const hash = hashOf(content);
  try {
    await em.transactional(async (tx) => {
      await tx.insert(WorkflowEntity, {
        tenantId,
        id,
        slug,
        latestVersion: 1,
        concurrencyLimit: content.defaults.concurrencyLimit ?? 0,
        createTime: now,
      });
      await tx.insert(WorkflowVersionEntity, {
        tenantId,
        workflowId: id,
        version: 1,
        definition: content.definition,
        inputSchema: content.inputSchema ?? null,
        defaults: { ...content.defaults },
        contentHash: hash,
        createTime: now,
      });
    });
  } catch (error) {
    if ((error as { code?: string }).code === "23505") {
      throw new RunlineError("already_exists", `workflow slug "${slug}" is already used`, "WORKFLOW_SLUG_TAKEN");
    }
    throw error;
  }
  return {
    workflow: { id, slug, latestVersion: 1, createTime: now },
    version: {
      workflowId: id,
      version: 1,
      definition: content.definition,
      inputSchema: content.inputSchema,
      defaults: content.defaults,
      contentHash: hash,
      createTime: now,
    },
  };
}

async function findWorkflowRow(em: EntityManager, tenantId: string, workflow: string, lock?: boolean): Promise<WorkflowRow> {
  if (workflow === "") throw invalidArgument("workflow", "is required");
  const where = isUuid(workflow) ? { tenantId, id: workflow.toLowerCase() } : { tenantId, slug: workflow };
  const row = await em.findOne(WorkflowEntity, where, lock === true ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
  if (row === null) throw notFound("workflow", workflow);
  return row;
}

/** A workflow by id or slug. */
export async function getWorkflow(em: EntityManager, tenantId: string, workflow: string): Promise<Workflow> {
  return toWorkflow(await findWorkflowRow(em, tenantId, workflow));
}

/** A page of workflows, newest first, after the keyset cursor `after`; only those of `ids` when given (an access token's). */
export async function listWorkflows(
  em: EntityManager,
  tenantId: string,
  limit: number,
  after?: { createTime: Date; id: string },
  ids?: readonly string[],
): Promise<Workflow[]> {
  const owner = ids === undefined ? { tenantId } : { tenantId, id: { $in: [...ids] } };
  const rows = await em.find(
    WorkflowEntity,
    after === undefined
      ? owner
      : { ...owner, $or: [{ createTime: { $lt: after.createTime } }, { createTime: after.createTime, id: { $lt: after.id } }] },
    { orderBy: { createTime: "desc", id: "desc" }, limit },
  );
  return rows.map(toWorkflow);
}

/**
 * Adds a version. The workflow row is locked so versions number 1, 2, 3 … without gaps
 * or races; content equal to the latest version's returns that version unchanged.
 */
export async function createWorkflowVersion(
  em: EntityManager,
  tenantId: string,
  workflow: string,
  content: VersionContent,
): Promise<WorkflowVersion> {
  checkContent(content);
  const hash = hashOf(content);
  return em.transactional(async (tx) => {
    const row = await findWorkflowRow(tx, tenantId, workflow, true);
    const latest = await tx.findOneOrFail(WorkflowVersionEntity, { tenantId, workflowId: row.id, version: row.latestVersion });
    if (latest.contentHash === hash) return toVersion(latest);
    const version = row.latestVersion + 1;
    const createTime = new Date();
    await tx.insert(WorkflowVersionEntity, {
      tenantId,
      workflowId: row.id,
      version,
      definition: content.definition,
      inputSchema: content.inputSchema ?? null,
      defaults: { ...content.defaults },
      contentHash: hash,
      createTime,
    });
    await tx.nativeUpdate(
      WorkflowEntity,
      { tenantId, id: row.id },
      { latestVersion: version, concurrencyLimit: content.defaults.concurrencyLimit ?? 0 },
    );
    return {
      workflowId: row.id,
      version,
      definition: content.definition,
      inputSchema: content.inputSchema,
      defaults: content.defaults,
      contentHash: hash,
      createTime,
    };
  });
}

/** One version (0 = latest). */
export async function getWorkflowVersion(em: EntityManager, tenantId: string, workflow: string, version: number): Promise<WorkflowVersion> {
  if (version < 0) throw invalidArgument("version", "must not be negative");
  const row = await findWorkflowRow(em, tenantId, workflow);
  const found = await em.findOne(WorkflowVersionEntity, {
    tenantId,
    workflowId: row.id,
    version: version === 0 ? row.latestVersion : version,
  });
  if (found === null) throw notFound("workflow version", `${workflow}@${version}`);
  return toVersion(found);
}

/** A page of a workflow's versions, newest first, below version `before` (0 = from the newest). */
export async function listWorkflowVersions(
  em: EntityManager,
  tenantId: string,
  workflow: string,
  limit: number,
  before: number,
): Promise<WorkflowVersion[]> {
  const row = await findWorkflowRow(em, tenantId, workflow);
  const rows = await em.find(
    WorkflowVersionEntity,
    before > 0 ? { tenantId, workflowId: row.id, version: { $lt: before } } : { tenantId, workflowId: row.id },
    { orderBy: { version: "desc" }, limit },
  );
  return rows.map(toVersion);
}
