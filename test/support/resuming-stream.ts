/**
 * A StreamRunEvents client that resumes, as the README tells clients to: when the stream
 * is cut, open it again after the last sequence received (afterSequence over RPC,
 * Last-Event-ID over SSE) until it ends after the run's terminal event. It records what
 * each attempt received and which replica served it (HAProxy's `x-runline-replica`), so
 * tests can prove that nothing was lost or repeated across a replica's death.
 */
import type { Client } from "@connectrpc/connect";
import { createParser } from "eventsource-parser";
import type { RunsService } from "../../gen/runline/v1/runs_service_pb.js";

/** What a test checks of each event received. */
export interface ReceivedEvent {
  readonly sequence: number;
  /** The caller's event id; empty for the server's own status events. */
  readonly eventId: string;
}

/**
 * One attempt at the stream, after `afterSequence`: yields each message's events, returns
 * when the stream ends as it should (after the terminal event), throws when it is cut.
 * `served` is told which replica answered, once the response headers arrive.
 */
export type StreamAttempt = (afterSequence: number, served: (replica: string) => void) => AsyncIterable<ReceivedEvent[]>;

/** How one attempt went. */
export interface AttemptRecord {
  replica: string;
  /** Events received on this attempt. */
  received: number;
  /** `completed`, or the error that cut it. */
  ending: string;
}

/** Everything a resumed stream delivered, in the order received. */
export interface FollowedStream {
  readonly sequences: number[];
  /** The non-empty event ids, in the order received. */
  readonly eventIds: string[];
  readonly attempts: AttemptRecord[];
}

/**
 * Follows a stream to its end, resuming after each cut from the last sequence received;
 * `onMessage` sees every sequence so far and the replica serving, after each message.
 * Fails, naming the last cut, when `maxAttempts` attempts were all cut.
 */
export async function followResuming(
  attempt: StreamAttempt,
  onMessage: (sequences: readonly number[], replica: string) => Promise<void>,
  maxAttempts = 5,
): Promise<FollowedStream> {
  const followed: FollowedStream = { sequences: [], eventIds: [], attempts: [] };
  let lastSequence = 0;
  for (let count = 0; count < maxAttempts; count++) {
    const record: AttemptRecord = { replica: "unknown", received: 0, ending: "" };
    followed.attempts.push(record);
    try {
      for await (const events of attempt(lastSequence, (replica) => (record.replica = replica))) {
        for (const event of events) {
          followed.sequences.push(event.sequence);
          if (event.eventId !== "") followed.eventIds.push(event.eventId);
          lastSequence = event.sequence;
          record.received++;
        }
        await onMessage(followed.sequences, record.replica);
      }
      record.ending = "completed";
      return followed;
    } catch (error) {
      record.ending = error instanceof Error ? error.message : String(error);
    }
  }
  throw new Error(`the stream was cut on all ${maxAttempts} attempts; the last: ${followed.attempts.at(-1)!.ending}`);
}

const replicaHeader = "x-runline-replica";

/** Attempts over an RPC client (gRPC, gRPC-web or Connect): `afterSequence` carries the cursor. */
export function rpcAttempt(runs: Client<typeof RunsService>, runId: string): StreamAttempt {
  return async function* (afterSequence, served) {
    const controller = new AbortController();
    try {
      const stream = runs.streamRunEvents(
        { runId, afterSequence: BigInt(afterSequence) },
        { signal: controller.signal, onHeader: (headers) => served(headers.get(replicaHeader) ?? "unknown") },
      );
      for await (const message of stream) {
        yield message.events.map((event) => ({ sequence: Number(event.sequence), eventId: event.eventId }));
      }
    } finally {
      controller.abort();
    }
  };
}

/** The events of one SSE message's data, as REST writes them (proto3 JSON: an int64 is a string). */
interface MessageJson {
  readonly events?: readonly { readonly sequence: string; readonly eventId?: string }[];
}

/**
 * Attempts over REST SSE at `url` with `key`: `Last-Event-ID` carries the cursor, as an
 * EventSource sends it on reconnect. Ends at `event: complete`; a stream that stops
 * before it, or an `event: error`, is a cut.
 */
export function sseAttempt(url: string, key: string): StreamAttempt {
  return async function* (afterSequence, served) {
    const controller = new AbortController();
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (afterSequence > 0) headers["last-event-id"] = String(afterSequence);
    try {
      const response = await fetch(url, { headers, signal: controller.signal });
      if (response.status !== 200) throw new Error(`the SSE request answered ${response.status}: ${await response.text()}`);
      served(response.headers.get(replicaHeader) ?? "unknown");
      const frames: { event: string | undefined; data: string }[] = [];
      const parser = createParser({ onEvent: ({ event, data }) => frames.push({ event, data }) });
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error("the SSE stream ended without `event: complete`");
        parser.feed(chunk.value);
        for (const frame of frames.splice(0)) {
          if (frame.event === "complete") return;
          if (frame.event === "error") throw new Error(`event: error ${frame.data}`);
          const message = JSON.parse(frame.data) as MessageJson;
          yield (message.events ?? []).map((event) => ({ sequence: Number(event.sequence), eventId: event.eventId ?? "" }));
        }
      }
    } finally {
      controller.abort();
    }
  };
}
