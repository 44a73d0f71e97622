/**
 * RunsService: translates requests to domain calls and records to responses. Rules and
 * SQL live in runs/ and events/; errors are mapped by the error interceptor.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { RunOutputSchema, type RunOutput } from "../../gen/runline/v1/run_pb.js";
import type { CreateRunRequest, RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import type { AppContext } from "../app-context.js";
import { invalidArgument } from "../errors.js";
import { listEventsAfter } from "../events/event-store.js";
import { appendEvents } from "../runs/event-append.js";
import { streamRunEvents } from "../events/run-event-stream.js";
import { createRunCreator, createRunTargetCache, createRuns, type CreateRunInput } from "../runs/create-run.js";
import { rerunRun } from "../runs/rerun-run.js";
import { cancelRun, deleteRun } from "../runs/run-control.js";
import { waitForSettledRun } from "../runs/run-output.js";
import { resumeRun } from "../runs/resume-run.js";
import type { RunRecord } from "../runs/run-record.js";
import { getRun, listRuns, type RunFilter } from "../runs/run-queries.js";
import { isSettled } from "../runs/run-status.js";
import { pageSize } from "../runs/page-token.js";
import { checkTargetUrl } from "../webhooks/target-policy.js";
import { getRunDefinition } from "../workflows/run-definition.js";
import { narrowedRunFilter } from "./access-restrictions.js";
import { tenantOf, callerOf } from "./caller-context.js";
import {
  createRunInput,
  dateFrom,
  domainStatus,
  eventMessage,
  jsonFromValue,
  millisFrom,
  runMessage,
  valueFromJson,
} from "./proto-convert.js";

/**
 * How a stream ended by shutdown rather than by the run's end fails: UNAVAILABLE tells
 * clients to reconnect (to another replica) and resume from the last sequence they saw.
 */
export function streamEndedByShutdown(): ConnectError {
  return new ConnectError("server is shutting down; resume from the last sequence received", Code.Unavailable);
}

/** Response header that marks an idempotent replay (API.md). */
export const replayedHeader = "Idempotent-Replayed";

function outputMessage(run: RunRecord): RunOutput {
  const output = create(RunOutputSchema, { status: runMessage(run).status, done: isSettled(run.status) });
  if (run.status === "SUCCEEDED") output.outcome = { case: "result", value: valueFromJson(run.result ?? null)! };
  else if (run.status === "INTERRUPTED" && run.interrupt !== null) {
    output.outcome = {
      case: "interrupt",
      value: {
        $typeName: "runline.v1.Interrupt",
        id: run.interrupt.id,
        reason: run.interrupt.reason ?? "",
        payload: valueFromJson(run.interrupt.payload),
        resumeSchema: valueFromJson(run.interrupt.resumeSchema),
      },
    };
  } else if ((run.status === "FAILED" || run.status === "TIMED_OUT") && run.error !== null) {
    output.outcome = {
      case: "error",
      value: { $typeName: "runline.v1.RunError", message: run.error.message ?? "", code: run.error.code ?? "" },
    };
  }
  return output;
}

interface FilterFields {
  status: number[];
  workflow: string;
  createdBy: string;
  labels: Record<string, string>;
  createTimeAfter?: Parameters<typeof dateFrom>[0];
  createTimeBefore?: Parameters<typeof dateFrom>[0];
  updateTimeAfter?: Parameters<typeof dateFrom>[0];
  updateTimeBefore?: Parameters<typeof dateFrom>[0];
}

function runFilter(fields: FilterFields, prefix: string): RunFilter {
  return {
    statuses: fields.status.map((status, index) => domainStatus(status, `${prefix}status[${index}]`)),
    workflow: fields.workflow,
    createdBy: fields.createdBy,
    labels: fields.labels,
    createTimeAfter: dateFrom(fields.createTimeAfter),
    createTimeBefore: dateFrom(fields.createTimeBefore),
    updateTimeAfter: dateFrom(fields.updateTimeAfter),
    updateTimeBefore: dateFrom(fields.updateTimeBefore),
  };
}

const maxOutputWaitMs = 60_000;
const defaultRunWaitMs = 30_000;
const maxRunWaitMs = 300_000;

/** The RunsService implementation over the app's database and event hub. */
export function runsService(app: AppContext): Partial<ServiceImpl<typeof RunsService>> {
  const sql = app.database.sql;
  // Resolved workflow versions, reused across CreateRun calls (see createRunTargetCache).
  const targets = createRunTargetCache();
  // Concurrent creates of a tenant share statements (see createRunCreator).
  const createRun = createRunCreator(sql, targets);
  const stream = async function* (tenantId: string, runId: string, after: number, context: HandlerContext) {
    const signal = AbortSignal.any([context.signal, app.shutdownSignal]);
    for await (const item of streamRunEvents(sql, app.tails, tenantId, runId, after, signal)) {
      yield { run: item.run === undefined ? undefined : runMessage(item.run), events: item.events.map(eventMessage) };
    }
    if (app.shutdownSignal.aborted) throw streamEndedByShutdown();
  };
  // CreateRunInput from a request, with its per-run webhook URL held to the SSRF rules
  // (target-policy.ts) as tenant endpoints are: a bad URL is refused now, naming the
  // field, not discovered at the first delivery.
  const runInput = (request: CreateRunRequest, field = ""): CreateRunInput => {
    const input = createRunInput(request, field);
    const url = input.webhook?.url ?? "";
    const problem = url === "" ? undefined : checkTargetUrl(url, app.webhooks.targets);
    if (problem !== undefined) throw invalidArgument(`${field}webhook.url`, problem);
    return input;
  };
  return {
    async createRun(request, context) {
      const caller = callerOf(context);
      const tenantId = tenantOf(context);
      const result = await createRun(tenantId, caller.keyId, runInput(request));
      if (result.run.status === "QUEUED" && !result.replayed) app.hub.announceQueued(tenantId);
      if (result.replayed) context.responseHeader.set(replayedHeader, "true");
      return { run: runMessage(result.run), idempotentReplayed: result.replayed };
    },
    async batchCreateRuns(request, context) {
      const caller = callerOf(context);
      const template = request.template;
      if (request.inputs.length > 0 && template === undefined) throw invalidArgument("template", "is required with inputs");
      const requests = [
        ...request.requests.map((one, index) => ({ request: runInput(one, `requests[${index}].`), field: `requests[${index}].` })),
        ...request.inputs.map((input, index) => ({
          request: {
            ...runInput(template!, "template."),
            input: jsonFromValue(input, `inputs[${index}]`),
            idempotencyKey: template!.idempotencyKey === "" ? "" : `${template!.idempotencyKey}/${index}`,
          },
          // The template's fields are the ones checked; the input is this item.
          field: "template.",
          inputField: `inputs[${index}]`,
        })),
      ];
      const tenantId = tenantOf(context);
      const runs = await createRuns(sql, tenantId, caller.keyId, requests);
      if (runs.some((run) => run.status === "QUEUED")) app.hub.announceQueued(tenantId);
      return { runs: runs.map(runMessage) };
    },
    async getRun(request, context) {
      return { run: runMessage(await getRun(sql, tenantOf(context), request.runId)) };
    },
    async listRuns(request, context) {
      const limit = pageSize(request.pageSize, 50, 1000);
      const filter = narrowedRunFilter(runFilter(request, ""), context);
      const page = await listRuns(sql, app.pageTokens, tenantOf(context), filter, limit, request.pageToken);
      return { runs: page.runs.map(runMessage), nextPageToken: page.nextPageToken };
    },
    async searchRuns(request, context) {
      const limit = pageSize(request.pageSize, 50, 1000);
      const fields = request.filter ?? { status: [], workflow: "", createdBy: "", labels: {} };
      const filter = narrowedRunFilter(runFilter(fields, "filter."), context);
      const page = await listRuns(sql, app.pageTokens, tenantOf(context), filter, limit, request.pageToken);
      return { runs: page.runs.map(runMessage), nextPageToken: page.nextPageToken };
    },
    async cancelRun(request, context) {
      return { run: runMessage(await cancelRun(sql, tenantOf(context), request.runId, request.reason)) };
    },
    async deleteRun(request, context) {
      await deleteRun(sql, tenantOf(context), request.runId);
      return {};
    },
    async resumeRun(request, context) {
      const tenantId = tenantOf(context);
      const run = await resumeRun(sql, tenantId, request.runId, jsonFromValue(request.input, "input"), request.interruptId);
      if (run.status === "QUEUED") app.hub.announceQueued(tenantId);
      return { run: runMessage(run) };
    },
    async getRunDefinition(request, context) {
      const definition = await getRunDefinition(sql, tenantOf(context), request.runId);
      return {
        workflowId: definition.workflowId,
        workflowVersion: definition.version,
        definition: valueFromJson(definition.definition ?? null),
        inputSchema: definition.inputSchema === null ? undefined : valueFromJson(definition.inputSchema),
        contentHash: definition.contentHash,
      };
    },
    async getRunOutput(request, context) {
      const waitMs = Math.min(millisFrom(request.blockTimeout, "blockTimeout") ?? 0, maxOutputWaitMs);
      const signal = AbortSignal.any([context.signal, app.shutdownSignal]);
      const run = await waitForSettledRun(sql, app.hub, tenantOf(context), request.runId, waitMs, signal);
      return { output: outputMessage(run) };
    },
    async listRunEvents(request, context) {
      const tenantId = tenantOf(context);
      if (request.afterSequence < 0n) throw invalidArgument("afterSequence", "must not be negative");
      const limit = pageSize(request.pageSize, 100, 1000);
      const run = await getRun(sql, tenantId, request.runId);
      const events = await listEventsAfter(sql, tenantId, run.id, request.afterSequence.toString(), limit);
      return { events: events.map(eventMessage), lastSequence: BigInt(run.last_sequence) };
    },
    async *streamRunEvents(request, context) {
      if (request.afterSequence < 0n) throw invalidArgument("afterSequence", "must not be negative");
      yield* stream(tenantOf(context), request.runId, Number(request.afterSequence), context);
    },
    async ingestRunEvents(request, context) {
      const events = request.events.map((event, index) => ({
        type: event.type,
        data: jsonFromValue(event.data, `events[${index}].data`),
        eventId: event.eventId,
      }));
      const stored = await appendEvents(sql, tenantOf(context), request.runId, events);
      return { events: stored.map(eventMessage) };
    },
    async runAndWait(request, context) {
      if (request.run === undefined) throw invalidArgument("run", "is required");
      const tenantId = tenantOf(context);
      const waitMs = Math.min(millisFrom(request.waitTimeout, "waitTimeout") ?? defaultRunWaitMs, maxRunWaitMs);
      const created = await createRun(tenantId, callerOf(context).keyId, runInput(request.run, "run."), "run.");
      if (created.run.status === "QUEUED") app.hub.announceQueued(tenantId);
      const signal = AbortSignal.any([context.signal, app.shutdownSignal]);
      const run = await waitForSettledRun(sql, app.hub, tenantId, created.run.id, waitMs, signal);
      return { run: runMessage(run), output: outputMessage(run) };
    },
    async rerunRun(request, context) {
      const tenantId = tenantOf(context);
      const rerun = { runId: request.runId, labels: request.labels, idempotencyKey: request.idempotencyKey };
      const result = await rerunRun(sql, tenantId, callerOf(context).keyId, rerun);
      if (result.run.status === "QUEUED" && !result.replayed) app.hub.announceQueued(tenantId);
      if (result.replayed) context.responseHeader.set(replayedHeader, "true");
      return { run: runMessage(result.run), idempotentReplayed: result.replayed };
    },
    async *runAndStream(request, context) {
      if (request.run === undefined) throw invalidArgument("run", "is required");
      const tenantId = tenantOf(context);
      const created = await createRun(tenantId, callerOf(context).keyId, runInput(request.run, "run."), "run.");
      if (created.run.status === "QUEUED") app.hub.announceQueued(tenantId);
      // From sequence 0: the run's whole log, its creation event included.
      yield* stream(tenantId, created.run.id, 0, context);
    },
  };
}
