/**
 * What a claim returns: the run plus its lease. Shared by the claim and the worker
 * write statements so every one of them returns the same shape.
 */
import type { RunRecord } from "../runs/run-record.js";

/** A claimed run and its lease. */
export interface LeaseRecord extends RunRecord {
  lease_id: string;
  lease_expire_time: string;
  resume_input: unknown;
}
