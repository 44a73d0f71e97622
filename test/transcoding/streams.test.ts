/**
 * Server-streaming RPCs over REST: Server-Sent Events (ids, Last-Event-ID, keep-alive,
 * error and complete frames), newline-delimited JSON, errors before the first message,
 * and a client disconnect reaching the handler's ctx.signal.
 */
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { startEchoServer, type EchoServer } from "./echo-server.js";

/** One SSE frame, split into its fields. */
interface Frame {
  id?: string;
  event?: string;
  data?: unknown;
  comment?: string;
}

let server: EchoServer;
beforeAll(async () => {
  server = await startEchoServer({ keepAliveMs: 100 });
});
afterAll(() => server.close());

function parseFrame(text: string): Frame {
  const frame: Frame = {};
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) frame.comment = line.slice(1).trim();
    else if (line.startsWith("id: ")) frame.id = line.slice(4);
    else if (line.startsWith("event: ")) frame.event = line.slice(7);
    else if (line.startsWith("data: ")) frame.data = JSON.parse(line.slice(6));
  }
  return frame;
}

/** Reads the body to its end, or until `stopAfter` frames when given (the rest left unread). */
async function readFrames(response: Response, stopAfter = Number.POSITIVE_INFINITY): Promise<Frame[]> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const frames: Frame[] = [];
  while (frames.length < stopAfter) {
    const { done, value } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    for (let end = buffered.indexOf("\n\n"); end !== -1; end = buffered.indexOf("\n\n")) {
      frames.push(parseFrame(buffered.slice(0, end)));
      buffered = buffered.slice(end + 2);
    }
  }
  return frames;
}

function stream(path: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(`${server.url}${path}`, { headers, signal: signal ?? null });
}

const sample = (int64Value: string): unknown => ({ id: "r1", int64Value });

describe("Server-Sent Events", () => {
  it("are the default: one data frame per message with the app's id, then a complete frame", async () => {
    const response = await stream("/v1/resources/r1/events:stream?int32Value=3&int64Value=10");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("answered-by")).toBe("StreamSamples");
    expect(await readFrames(response)).toEqual([
      { id: "11", data: sample("11") },
      { id: "12", data: sample("12") },
      { id: "13", data: sample("13") },
      { event: "complete", data: {} },
    ]);
  });

  it("are served on additional bindings too", async () => {
    const response = await stream("/v1/resources/r1/stream?int32Value=1", { accept: "text/event-stream" });
    expect(await readFrames(response)).toEqual([
      { id: "1", data: sample("1") },
      { event: "complete", data: {} },
    ]);
  });

  it("resume after Last-Event-ID, which wins over the query", async () => {
    const response = await stream("/v1/resources/r1/events:stream?int32Value=2&int64Value=10", { "last-event-id": "20" });
    const frames = await readFrames(response);
    expect(frames.map((frame) => frame.id)).toEqual(["21", "22", undefined]);
  });

  it("refuse a Last-Event-ID that does not fit the field with 400", async () => {
    const response = await stream("/v1/resources/r1/events:stream", { "last-event-id": "not-a-number" });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain("header Last-Event-ID");
  });

  it("send a keep-alive comment while a stream is idle", async () => {
    const response = await stream("/v1/resources/r1/events:stream?int32Value=2&duration=0.35s");
    const frames = await readFrames(response);
    expect(frames[0]).toEqual({ id: "1", data: sample("1") });
    expect(frames.filter((frame) => frame.comment === "keep-alive").length).toBeGreaterThanOrEqual(2);
    expect(frames.slice(-2)).toEqual([
      { id: "2", data: sample("2") },
      { event: "complete", data: {} },
    ]);
  });

  it("end a failing stream with an error frame holding the Status", async () => {
    const response = await stream("/v1/resources/r1/events:stream?int32Value=2&text=fail");
    expect(response.status).toBe(200);
    const frames = await readFrames(response);
    expect(frames).toEqual([
      { id: "1", data: sample("1") },
      { id: "2", data: sample("2") },
      {
        event: "error",
        data: {
          code: Code.Aborted,
          message: "stream failed",
          details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "STREAM_FAILED", domain: "test" }],
        },
      },
    ]);
  });

  it("answer an error before the first message as a plain JSON error", async () => {
    const response = await stream("/v1/resources/r1/events:stream?text=fail-first");
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({ code: Code.FailedPrecondition, message: "failed before any message", details: [] });
  });

  it("are chosen by a hook's alternative when a polling URL asks for text/event-stream", async () => {
    const response = await stream("/v1/resources/r1/events?int32Value=1", { accept: "text/event-stream" });
    expect(response.headers.get("answered-by")).toBe("StreamSamples");
    expect(await readFrames(response)).toEqual([
      { id: "1", data: sample("1") },
      { event: "complete", data: {} },
    ]);
  });
});

describe("newline-delimited JSON", () => {
  it("sends one message per line when asked for application/x-ndjson", async () => {
    const response = await stream("/v1/resources/r1/events:stream?int32Value=2", { accept: "application/x-ndjson" });
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await response.text()).split("\n");
    expect(lines).toEqual([JSON.stringify(sample("1")), JSON.stringify(sample("2")), ""]);
  });

  it("ends a failing stream with an error line", async () => {
    const response = await stream("/v1/resources/r1/events:stream?int32Value=1&text=fail", {
      accept: "application/x-ndjson, text/event-stream",
    });
    const lines = (await response.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as unknown);
    expect(lines).toEqual([
      sample("1"),
      { error: { code: Code.Aborted, message: "stream failed", details: [expect.objectContaining({ reason: "STREAM_FAILED" })] } },
    ]);
  });
});

describe("client disconnect", () => {
  it("aborts the handler's ctx.signal at once", async () => {
    const client = new AbortController();
    const response = await stream("/v1/resources/held/events:stream?int32Value=1&flag=true", {}, client.signal);
    expect(await readFrames(response, 1)).toEqual([{ id: "1", data: { id: "held", int64Value: "1" } }]);
    const aborted = once(server.events, "stream-aborted");
    const started = performance.now();
    client.abort();
    expect(await aborted).toEqual(["held"]);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
