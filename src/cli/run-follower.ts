/**
 * Follows one run's event stream (StreamRunEvents, or RunAndStream for a run created
 * now): prints the run's line and then each event as it arrives, through the one event
 * printer, and keeps track of the run's status. `runs watch` follows to the stream's
 * end (the run's terminal event); `runs create --wait` stops as soon as the run is
 * settled, which includes INTERRUPTED.
 */
import { RunStatus, type Run, type RunEvent } from "../../gen/runline/v1/run_pb.js";
import { createEventPrinter } from "./event-printer.js";
import type { Output } from "./output.js";
import { paintStatus } from "./run-format.js";

/** One message of either stream: the run first, then batches of events. */
export interface RunStreamMessage {
  readonly run?: Run | undefined;
  readonly events: readonly RunEvent[];
}

/** How to follow a stream of `Message`s. */
export interface FollowOptions<Message extends RunStreamMessage> {
  /** Where the run's line and its events are printed; undefined prints nothing. */
  readonly out: Output | undefined;
  /** Stop once the run is INTERRUPTED too (`--wait`); otherwise follow through interrupts to the end. */
  readonly untilSettled: boolean;
  /** Stops following when aborted (the end of a wait), resolving to where the run stood rather than failing. */
  readonly until?: AbortSignal;
  /** Called with each message as it arrives (`watch --json` prints them). */
  readonly onMessage?: (message: Message) => void;
}

/** Where the followed run stands. */
export interface FollowedRun {
  /** The run as the stream's first message showed it; undefined when none arrived. */
  readonly run: Run | undefined;
  /** Its status after the last event seen. */
  readonly status: RunStatus;
}

const settledStatuses = new Set([RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED]);

/** Prints `messages` until they end or (with `untilSettled`) the run is settled; resolves to where the run stands. */
export async function followRun<Message extends RunStreamMessage>(
  messages: AsyncIterable<Message>,
  options: FollowOptions<Message>,
): Promise<FollowedRun> {
  const { out } = options;
  const printer = out === undefined ? undefined : createEventPrinter(out);
  let run: Run | undefined;
  let status = RunStatus.UNSPECIFIED;
  // The stream replays the log before going live: an INTERRUPTED met while replaying
  // (a run resumed since, found again by its idempotency key) is history, not where the
  // run is. Past the sequence the first message showed, every event is current.
  let replayedUpTo = 0n;
  let lastSequence = 0n;
  try {
    for await (const message of messages) {
      options.onMessage?.(message);
      if (message.run !== undefined) {
        run = message.run;
        status = run.status;
        replayedUpTo = run.lastSequence;
        out?.line(`run ${run.id} (${run.workflowSlug || run.workflowId}): ${paintStatus(out, status)}`);
      }
      for (const event of message.events) {
        if (event.type === "status") status = event.status;
        lastSequence = event.sequence;
        printer?.print(event);
      }
      if (options.untilSettled && lastSequence >= replayedUpTo && settledStatuses.has(status)) break;
    }
  } catch (error) {
    // The call was given the same signal, so it failed because the wait ended.
    if (options.until?.aborted !== true) throw error;
  } finally {
    printer?.end();
  }
  return { run, status };
}
