/**
 * Follows one run's events over gRPC-web (StreamRunEvents) from its first event until
 * its terminal one. When the stream breaks (a deploy, a dropped connection) it
 * reconnects after a pause, from the last sequence it saw, so nothing is shown twice
 * and nothing is missed; errors that reconnecting cannot cure (the run is gone, the
 * credential was refused) end it.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Run, RunEvent } from "../gen/runline/v1/run_pb.js";
import type { Clients } from "./session.js";

/** What a follower reports. */
export interface RunFollowerHandlers {
  /** The run's current state, on each (re)connection. */
  onRun(run: Run): void;
  /** A batch of new events, in sequence order. */
  onEvents(events: readonly RunEvent[]): void;
  /** The run reached its terminal status and every event was seen. */
  onEnd(): void;
  /** A failure; `retrying` says whether the follower will reconnect. */
  onError(error: unknown, retrying: boolean): void;
}

const finalCodes = new Set([Code.NotFound, Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.Canceled]);

/** Follows `runId` until its end or until `signal` aborts. */
export async function followRun(clients: Clients, runId: string, signal: AbortSignal, handlers: RunFollowerHandlers): Promise<void> {
  let afterSequence = 0n;
  let pauseMs = 500;
  while (!signal.aborted) {
    try {
      for await (const message of clients.runs.streamRunEvents({ runId, afterSequence }, { signal })) {
        if (message.run !== undefined) handlers.onRun(message.run);
        if (message.events.length > 0) {
          handlers.onEvents(message.events);
          afterSequence = message.events.at(-1)!.sequence;
        }
        pauseMs = 500;
      }
      handlers.onEnd();
      return;
    } catch (error) {
      if (signal.aborted) return;
      const retrying = !finalCodes.has(ConnectError.from(error).code);
      handlers.onError(error, retrying);
      if (!retrying) return;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      pauseMs = Math.min(pauseMs * 2, 10_000);
    }
  }
}
