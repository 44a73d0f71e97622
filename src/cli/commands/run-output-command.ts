/**
 * `runline runs output <run-id> [--wait 30s]`: a run's result, interrupt or error,
 * long-polling GetRunOutput while the run has not settled. The server bounds one poll
 * (60 s), so longer waits poll again until the deadline.
 */
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { GetRunOutputResponseSchema, RunsService } from "../../../gen/runline/v1/runs_service_pb.js";
import { parseDurationArgument } from "../argument-values.js";
import type { Command } from "../command.js";
import { exitCodeForRunStatus, exitCodeHelp } from "../exit-codes.js";
import { printOutput } from "../run-format.js";

/** The longest block_timeout the server honours for one GetRunOutput. */
const maxPollMs = 60_000;

/** `runs output`. */
export const runOutputCommand: Command = {
  path: ["runs", "output"],
  summary: "print a run's result (or its interrupt or error)",
  positionals: ["run-id"],
  options: [
    {
      name: "wait",
      type: "string",
      value: "<duration>",
      help: "wait up to this long for the run to settle, e.g. 30s (any length: it asks again each minute)",
    },
  ],
  key: "tenant",
  notes: `The result is printed as JSON. The exit code says where the run is:\n${exitCodeHelp}`,
  async run({ args, out, connect }) {
    const runs = connect().client(RunsService);
    const runId = args.positionals[0]!;
    const wait = args.string("wait");
    const deadline = Date.now() + (wait === undefined ? 0 : durationMs(parseDurationArgument("wait", wait)));
    const poll = () => runs.getRunOutput({ runId, blockTimeout: durationFromMs(Math.min(maxPollMs, Math.max(0, deadline - Date.now()))) });
    let response = await poll();
    while (response.output?.done !== true && Date.now() < deadline) response = await poll();
    const output = response.output!;
    if (out.json) out.message(GetRunOutputResponseSchema, response);
    else printOutput(out, runId, output);
    return exitCodeForRunStatus(output.status);
  },
};
