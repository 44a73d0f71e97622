/**
 * Reading REST streams in tests: raw SSE frames (split by eventsource-parser) and NDJSON
 * lines off a `fetch` response (to see exactly what the server sends), and an
 * EventSource from the `eventsource` package that records what a browser-like client
 * receives, its reconnects included.
 * Every read is bounded in time and every connection is dropped when its test ends.
 */
import { EventSource } from "eventsource";
import { createParser } from "eventsource-parser";
import { expect, onTestFinished } from "vitest";
import { within, type StreamMessageJson } from "./rest-client.js";

/** One SSE frame as it was on the wire. */
export interface SseFrame {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

/** An SSE response being read: the frames so far, and bounded ways to read more. */
export interface SseReader {
  readonly frames: SseFrame[];
  /** Reads until `stop(frames)` holds; fails naming `what` after `ms` or when the stream ends first. */
  until(what: string, stop: (frames: readonly SseFrame[]) => boolean, ms?: number): Promise<void>;
  /** Reads until the server ends the stream (within `ms`). */
  toEnd(ms?: number): Promise<SseFrame[]>;
  /** Stops reading and drops the connection (a client going away). */
  cancel(): Promise<void>;
}

/** Reads `response` as SSE; the connection is dropped when the test ends, if still open. */
export function readSse(response: Response): SseReader {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/event-stream");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const frames: SseFrame[] = [];
  const parser = createParser({
    onEvent: ({ id, event, data }) => {
      frames.push({ id, event, data });
    },
  });
  // The last two characters received: a stream that ends cleanly ends with a blank line.
  let ending = "";
  let ended = false;
  const readOnce = async (): Promise<void> => {
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      return;
    }
    parser.feed(value);
    ending = (ending + value).slice(-2);
  };
  const cancel = () => reader.cancel().catch(() => {});
  onTestFinished(cancel);
  return {
    frames,
    async until(what, stop, ms = 10_000) {
      await within(
        ms,
        what,
        (async () => {
          while (!stop(frames)) {
            if (ended) throw new Error(`${what}: the stream ended after ${frames.length} frames`);
            await readOnce();
          }
        })(),
      );
    },
    async toEnd(ms = 10_000) {
      await within(
        ms,
        "the SSE stream to end",
        (async () => {
          while (!ended) await readOnce();
        })(),
      );
      expect(ending, "the stream ends after a complete frame").toMatch(/^(\n\n)?$/);
      return frames;
    },
    cancel,
  };
}

/** The stream messages (data of frames without an event name) of SSE frames. */
export function messagesOf(frames: readonly SseFrame[]): StreamMessageJson[] {
  return frames.filter((frame) => frame.event === undefined).map((frame) => JSON.parse(frame.data) as StreamMessageJson);
}

/** Reads a whole NDJSON response: one JSON value per line. */
export async function readNdjsonToEnd(response: Response, ms = 10_000): Promise<unknown[]> {
  const text = await within(ms, "the NDJSON stream to end", response.text());
  expect(text.endsWith("\n")).toBe(true);
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as unknown);
}

/** The sequences of the events in stream messages, in the order received. */
export function sequencesOf(messages: readonly StreamMessageJson[]): number[] {
  return messages.flatMap((message) => (message.events ?? []).map((event) => Number(event.sequence)));
}

/** A message event an EventSource received: the id it carried (its `lastEventId`) and the parsed data. */
export interface ReceivedMessage {
  readonly lastEventId: string;
  readonly data: StreamMessageJson;
}

/** An EventSource on a REST stream that records its messages, `complete` events and connection attempts. */
export interface RecordingEventSource {
  readonly source: EventSource;
  readonly messages: ReceivedMessage[];
  /** How many `event: complete` frames arrived. */
  readonly completions: () => number;
  /** The request headers of every connection attempt, in order. */
  readonly attempts: Headers[];
  close(): void;
}

/**
 * Opens an EventSource on `url` with the bearer key and `headers` (the custom `fetch` is
 * how eventsource v5 sends headers), closed when the test ends. `closeOnComplete`: close
 * as soon as `event: complete` arrives, as a client should.
 */
export function openEventSource(
  url: string,
  key: string,
  options: { headers?: Record<string, string>; closeOnComplete?: boolean } = {},
): RecordingEventSource {
  const attempts: Headers[] = [];
  const messages: ReceivedMessage[] = [];
  let completions = 0;
  const source = new EventSource(url, {
    fetch: (input, init) => {
      const headers = { ...init.headers, ...options.headers, Authorization: `Bearer ${key}` };
      attempts.push(new Headers(headers));
      return fetch(input, { ...init, headers });
    },
  });
  source.addEventListener("message", (event) => {
    messages.push({ lastEventId: event.lastEventId, data: JSON.parse(event.data as string) as StreamMessageJson });
  });
  source.addEventListener("complete", () => {
    completions++;
    if (options.closeOnComplete === true) source.close();
  });
  onTestFinished(() => source.close());
  return { source, messages, completions: () => completions, attempts, close: () => source.close() };
}
