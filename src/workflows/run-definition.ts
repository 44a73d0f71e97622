/**
 * GetRunDefinition: the immutable workflow version a run was created with. Versions are
 * never changed once written, so the run's (workflow, version) pair is its snapshot.
 */
import type { Sql } from "../db/database.js";
import { notFound } from "../errors.js";
import { isUuid } from "../ids.js";

/** The snapshot of a run. */
export interface RunDefinition {
  readonly workflowId: string;
  readonly version: number;
  readonly definition: unknown;
  readonly inputSchema: unknown;
  readonly contentHash: string;
}

// Primary keys of runs and workflow_versions.
const selectDefinition = `
  select v.workflow_id, v.version, v.definition, v.input_schema, v.content_hash
  from runs r
  join workflow_versions v on v.tenant_id = r.tenant_id and v.workflow_id = r.workflow_id and v.version = r.workflow_version
  where r.tenant_id = $1::uuid and r.id = $2::uuid`;

/** The snapshot the run was created with; NOT_FOUND for unknown or other tenants' runs. */
export async function getRunDefinition(sql: Sql, tenantId: string, runId: string): Promise<RunDefinition> {
  if (!isUuid(runId)) throw notFound("run", runId);
  const [row] = await sql.query<{ workflow_id: string; version: number; definition: unknown; input_schema: unknown; content_hash: string }>(
    selectDefinition,
    [tenantId, runId],
  );
  if (row === undefined) throw notFound("run", runId);
  return {
    workflowId: row.workflow_id,
    version: row.version,
    definition: row.definition,
    inputSchema: row.input_schema,
    contentHash: row.content_hash,
  };
}
