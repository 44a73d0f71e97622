/**
 * The body of a webhook delivery, rendered as REST would show the run: the delivery's
 * payload (the run row as JSON at the change, runs/lifecycle/webhook-outbox.ts) becomes
 * a RunRecord, then the Run message, then proto3 JSON. webhooks/ cannot import api/ or
 * gen/, so server.ts hands this function to the dispatcher.
 */
import { toJson } from "@bufbuild/protobuf";
import { RunSchema } from "../../gen/runline/v1/run_pb.js";
import { millisFromTimestamptz } from "../db/timestamptz-text.js";
import type { RunRecord } from "../runs/run-record.js";
import { runMessage } from "./proto-convert.js";

/**
 * `{"type", "timestamp", "data": {"run"}}` for a delivery of `type` whose payload is
 * `row`; the timestamp is the change's (the row's update_time), in RFC 3339.
 */
export function renderWebhookBody(type: string, row: Record<string, unknown>): string {
  // to_jsonb writes bigints as JSON numbers; RunRecord carries them as pg does, as text.
  const record = { ...row, last_sequence: String(row["last_sequence"]) } as unknown as RunRecord;
  const run = toJson(RunSchema, runMessage(record));
  return JSON.stringify({ type, timestamp: new Date(millisFromTimestamptz(record.update_time)).toISOString(), data: { run } });
}
