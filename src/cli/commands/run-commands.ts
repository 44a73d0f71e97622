/**
 * `runline runs get|list|cancel|resume|rerun`: managing runs. Starting one (`create`, which
 * may follow it with --wait) and the commands that follow a run to its end (`watch`,
 * `output`) have their own files.
 */
import { create } from "@bufbuild/protobuf";
import {
  CancelRunResponseSchema,
  GetRunResponseSchema,
  ListRunsResponseSchema,
  RerunRunResponseSchema,
  ResumeRunResponseSchema,
  RunsService,
} from "../../../gen/runline/v1/runs_service_pb.js";
import { parseCountArgument, parseLabelArguments, parseStatusArguments, parseValueArgument } from "../argument-values.js";
import type { Command } from "../command.js";
import { collectPages } from "../paging.js";
import { paintStatus, printRun, runColumns, runRow, runSummary } from "../run-format.js";

/** `runs get`. */
export const getRunCommand: Command = {
  path: ["runs", "get"],
  summary: "show a run",
  positionals: ["run-id"],
  options: [],
  key: "tenant",
  async run({ args, out, connect }) {
    const response = await connect().client(RunsService).getRun({ runId: args.positionals[0]! });
    if (out.json) return out.message(GetRunResponseSchema, response);
    printRun(out, response.run!);
  },
};

/** `runs list`. */
export const listRunsCommand: Command = {
  path: ["runs", "list"],
  summary: "list runs, newest first",
  positionals: [],
  options: [
    { name: "status", type: "string", value: "<list>", multiple: true, help: "only these statuses, e.g. queued,running" },
    { name: "workflow", type: "string", value: "<slug|id>", help: "only runs of this workflow" },
    { name: "label", type: "string", value: "<key=value>", multiple: true, help: "only runs with this label" },
    { name: "limit", type: "string", value: "<n>", help: "at most this many runs, following pages (default 50)" },
  ],
  key: "tenant",
  async run({ args, out, connect }) {
    const runs = connect().client(RunsService);
    const filter = {
      status: parseStatusArguments("status", args.strings("status")),
      workflow: args.string("workflow") ?? "",
      labels: parseLabelArguments("label", args.strings("label")),
    };
    const limit = parseCountArgument("limit", args.string("limit") ?? "50");
    const { items, nextPageToken } = await collectPages(limit, async (pageToken, pageSize) => {
      const page = await runs.listRuns({ ...filter, pageToken, pageSize });
      return { items: page.runs, nextPageToken: page.nextPageToken };
    });
    if (out.json) return out.message(ListRunsResponseSchema, create(ListRunsResponseSchema, { runs: items, nextPageToken }));
    out.table(runColumns, items.map(runRow));
  },
};

/** `runs cancel`. */
export const cancelRunCommand: Command = {
  path: ["runs", "cancel"],
  summary: "cancel a run (a running one goes through CANCELLING)",
  positionals: ["run-id"],
  options: [{ name: "reason", type: "string", value: "<text>", help: "why, recorded on the run" }],
  key: "tenant",
  async run({ args, out, connect }) {
    const response = await connect()
      .client(RunsService)
      .cancelRun({ runId: args.positionals[0]!, reason: args.string("reason") ?? "" });
    if (out.json) return out.message(CancelRunResponseSchema, response);
    out.line(`run ${response.run!.id}: ${paintStatus(out, response.run!.status)}`);
  },
};

/** `runs resume`. */
export const resumeRunCommand: Command = {
  path: ["runs", "resume"],
  summary: "resume an INTERRUPTED run with input for its interrupt",
  positionals: ["run-id"],
  options: [
    { name: "input", type: "string", value: "<json|@file>", help: "input matching the interrupt's resume schema (required)" },
    { name: "interrupt", type: "string", value: "<id>", help: "the interrupt being answered (resuming it twice changes nothing)" },
  ],
  key: "tenant",
  async run({ args, out, connect }) {
    const response = await connect()
      .client(RunsService)
      .resumeRun({
        runId: args.positionals[0]!,
        input: parseValueArgument("input", args.required("input")),
        interruptId: args.string("interrupt") ?? "",
      });
    if (out.json) return out.message(ResumeRunResponseSchema, response);
    out.line(`resumed run ${response.run!.id}: ${paintStatus(out, response.run!.status)}`);
  },
};

/** `runs rerun`. */
export const rerunRunCommand: Command = {
  path: ["runs", "rerun"],
  summary: "start a finished run again: same workflow version, input and labels",
  positionals: ["run-id"],
  options: [
    { name: "label", type: "string", value: "<key=value>", multiple: true, help: "a label replacing the original's for its key" },
    { name: "idempotency-key", type: "string", value: "<key>", help: "the same key and request return the same run" },
  ],
  key: "tenant",
  async run({ args, out, connect }) {
    const response = await connect()
      .client(RunsService)
      .rerunRun({
        runId: args.positionals[0]!,
        labels: parseLabelArguments("label", args.strings("label")),
        idempotencyKey: args.string("idempotency-key") ?? "",
      });
    if (out.json) return out.message(RerunRunResponseSchema, response);
    const what = response.idempotentReplayed ? "existing rerun (idempotent replay)" : "created run";
    out.line(`${what} ${runSummary(out, response.run!)}  rerun of ${response.run!.rerunOf}`);
  },
};
