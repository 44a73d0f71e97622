/**
 * `runline runs create <workflow> [--wait 30s]`: starts a run. With --wait it follows the
 * run until it settles (terminal or INTERRUPTED) or the wait ends, showing its status and
 * progress as `runs watch` does; they go to stderr, so stdout still holds only what
 * scripts read (the run's line and its output), and the exit code says how it ended.
 * With --json it is one RunAndWait call, whose response is printed.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import type { Run } from "../../../gen/runline/v1/run_pb.js";
import {
  CreateRunResponseSchema,
  RunAndWaitResponseSchema,
  RunsService,
  type CreateRunRequestSchema,
} from "../../../gen/runline/v1/runs_service_pb.js";
import { parseDurationArgument, parseLabelArguments, parseValueArgument, type DurationBounds } from "../argument-values.js";
import type { Arguments, Command } from "../command.js";
import { exitCodeForRunStatus, exitCodeHelp } from "../exit-codes.js";
import { createOutput } from "../output.js";
import { printOutput, runSummary } from "../run-format.js";
import { followRun } from "../run-follower.js";

/** What RunAndWait accepts (API.md: at most 300 s); a wait of 0 would show nothing. */
const waitBounds: DurationBounds = { positive: true, max: "5m" };

function createRunRequest(args: Arguments): MessageInitShape<typeof CreateRunRequestSchema> {
  const input = args.string("input");
  return {
    workflow: args.positionals[0]!,
    ...(input === undefined ? {} : { input: parseValueArgument("input", input) }),
    labels: parseLabelArguments("label", args.strings("label")),
    idempotencyKey: args.string("idempotency-key") ?? "",
  };
}

/**
 * Creates the run with RunAndStream and prints its events on stderr until it settles or
 * `waitMs` has passed since it was created (the stream's first message), as RunAndWait
 * counts its wait; a slow answer to the call itself does not eat into it.
 */
async function createAndFollow(
  runs: Client<typeof RunsService>,
  request: MessageInitShape<typeof CreateRunRequestSchema>,
  waitMs: number,
): Promise<Run> {
  const waitEnded = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const startWait = () => (timer ??= setTimeout(() => waitEnded.abort(), waitMs));
  try {
    const { run } = await followRun(runs.runAndStream({ run: request }, { signal: waitEnded.signal }), {
      out: createOutput(false, process.stderr),
      untilSettled: true,
      until: waitEnded.signal,
      onMessage: startWait,
    });
    if (run === undefined) throw new Error("the server ended RunAndStream before its first message");
    return run;
  } finally {
    clearTimeout(timer);
    // Leaving the stream early (settled at INTERRUPTED) does not end the call by itself:
    // measured, the open response kept the process alive.
    waitEnded.abort();
  }
}

/** `runs create`. */
export const createRunCommand: Command = {
  path: ["runs", "create"],
  summary: "start a run of a workflow (by slug or id); --wait follows it to its outcome",
  positionals: ["workflow"],
  options: [
    { name: "input", type: "string", value: "<json|@file>", help: "the run's input (JSON, or @file; @- reads stdin)" },
    { name: "label", type: "string", value: "<key=value>", multiple: true, help: "a label on the run" },
    { name: "idempotency-key", type: "string", value: "<key>", help: "the same key and request return the same run" },
    {
      name: "wait",
      type: "string",
      value: "<duration>",
      help: `wait up to this long (at most ${waitBounds.max}) for the run to settle, showing its progress, e.g. 30s`,
    },
  ],
  key: "tenant",
  notes: `With --wait the run's status and events are shown on stderr while it runs (progress as a
bar redrawn in place on a terminal); stdout gets the run's line and its output, and the exit
code says how it ended:
${exitCodeHelp}`,
  async run({ args, out, connect }) {
    const runs = connect().client(RunsService);
    const request = createRunRequest(args);
    const wait = args.string("wait");
    if (wait === undefined) {
      const response = await runs.createRun(request);
      if (out.json) return out.message(CreateRunResponseSchema, response);
      out.line(`${response.idempotentReplayed ? "existing run (idempotent replay)" : "created run"} ${runSummary(out, response.run!)}`);
      return;
    }
    const waitTimeout = parseDurationArgument("wait", wait, waitBounds);
    if (out.json) {
      const response = await runs.runAndWait({ run: request, waitTimeout });
      out.message(RunAndWaitResponseSchema, response);
      return exitCodeForRunStatus(response.output?.status ?? response.run!.status);
    }
    const run = await createAndFollow(runs, request, durationMs(waitTimeout));
    const output = (await runs.getRunOutput({ runId: run.id })).output!;
    out.line(`run ${runSummary(out, { ...run, status: output.status })}`);
    printOutput(out, run.id, output);
    return exitCodeForRunStatus(output.status);
  },
};
