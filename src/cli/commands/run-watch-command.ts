/**
 * `runline runs watch <run-id>`: follows a run live over StreamRunEvents (replay after
 * `--after`, then live events, ending after the terminal event) and exits with a code
 * that says how the run ended.
 */
import { RunsService, StreamRunEventsResponseSchema } from "../../../gen/runline/v1/runs_service_pb.js";
import { parseCountArgument } from "../argument-values.js";
import type { Command } from "../command.js";
import { exitCodeForRunStatus, exitCodeHelp } from "../exit-codes.js";
import { followRun } from "../run-follower.js";

/** `runs watch`. */
export const watchRunCommand: Command = {
  path: ["runs", "watch"],
  summary: "print a run's events live until it ends (progress as a bar on a terminal)",
  positionals: ["run-id"],
  options: [
    { name: "after", type: "string", value: "<sequence>", help: "start after this event sequence (default 0: from the first event)" },
  ],
  key: "tenant",
  notes: `Each event is a line: #sequence, time, type, then the status or data.
With --json each stream message is one line of proto3 JSON.
The exit code says how the run ended (0 SUCCEEDED, 10 FAILED, 11 CANCELLED, 12 TIMED_OUT);
14 when the stream ended before the run did.

${exitCodeHelp}`,
  async run({ args, out, connect }) {
    const stream = connect()
      .client(RunsService)
      .streamRunEvents({
        runId: args.positionals[0]!,
        afterSequence: BigInt(parseCountArgument("after", args.string("after") ?? "0", 0)),
      });
    const { status } = await followRun(stream, {
      out: out.json ? undefined : out,
      untilSettled: false,
      ...(out.json ? { onMessage: (message) => out.messageLine(StreamRunEventsResponseSchema, message) } : {}),
    });
    return exitCodeForRunStatus(status);
  },
};
