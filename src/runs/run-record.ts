/**
 * The run as the SQL modules return it, and the column list every run query selects,
 * so that each statement returns the same shape.
 */
import type { RunStatus } from "./run-status.js";

/** A stored run (snake_case: the row as Postgres returns it). */
/** Timestamps are Postgres timestamptz text (microsecond precision). */
export interface RunRecord {
  tenant_id: string;
  id: string;
  workflow_id: string;
  workflow_slug: string;
  workflow_version: number;
  status: RunStatus;
  input: unknown;
  labels: Record<string, string>;
  attempt: number;
  max_attempts: number;
  priority: number;
  timeout_ms: string | null;
  created_by: string;
  idempotency_key: string | null;
  webhook_url: string | null;
  webhook_intermediate: boolean;
  schedule_time: string | null;
  create_time: string;
  update_time: string;
  start_time: string | null;
  end_time: string | null;
  /** bigint arrives as a string from pg. */
  last_sequence: string;
  result: unknown;
  error: { message?: string; code?: string } | null;
  interrupt: { id: string; reason?: string; payload?: unknown; resumeSchema?: unknown } | null;
  /** The run this one repeats (RerunRun), or null. */
  rerun_of: string | null;
}

/**
 * The columns of RunRecord, for `select … from runs r`. The workflow slug comes from a
 * correlated lookup on the workflows primary key.
 */
export const runColumns = `
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug`;
