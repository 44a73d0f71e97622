/**
 * RunsService's server streams over REST (API.md "StreamRunEvents", "RunAndStream"):
 * `GET /api/v1/runs/{run_id}/events:stream`, its alias `…/stream`, `GET …/events` with
 * `Accept: text/event-stream`, and `POST /api/v1/runs:stream` — as Server-Sent Events
 * (`id:` = the last sequence of each message, `Last-Event-ID` resumes, `event: complete`
 * at the end) and as NDJSON. Read both with raw `fetch` (to see the frames as sent) and
 * with the `eventsource` package's EventSource (to see what a browser-like client gets,
 * its own reconnects included). The server has no executor: the test drives each run
 * with IngestRunEvents and ends it with CancelRun.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestServer } from "../support/test-server.js";
import {
  createRestKey,
  createRestRun,
  createRestTenant,
  createRestWorkflow,
  eventually,
  expectStatus,
  ingestRestEvents,
  oneTo,
  within,
  type RestTenant,
  type StreamMessageJson,
} from "./rest-client.js";
import { messagesOf, openEventSource, readNdjsonToEnd, readSse, sequencesOf, type RecordingEventSource } from "./rest-streams.js";

let baseUrl: string;
let tenant: RestTenant;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createRestTenant(baseUrl);
  await createRestWorkflow(tenant.rest, "counter");
});

const newRun = () => createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
const cancel = async (runId: string) =>
  expect((await tenant.rest.post(`/api/v1/runs/${runId}/cancel`, { reason: "stream test" })).status).toBe(200);

/** Opens a stream with `fetch`; the connection is dropped when the test ends. */
function openStream(path: string, headers: Record<string, string> = {}, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  const controller = new AbortController();
  onTestFinished(() => controller.abort());
  return fetch(`${baseUrl}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${tenant.key}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: init.body === undefined ? null : JSON.stringify(init.body),
    signal: controller.signal,
  });
}

/** A fetch Response read as the REST client reads answers. */
async function restAnswer(pending: Promise<Response>) {
  const response = await pending;
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text) as unknown };
}

/** The sequences an EventSource received, in order. */
const received = (source: RecordingEventSource) => sequencesOf(source.messages.map((message) => message.data));

/** Every message that carries events has, as its id, the last sequence in it. */
function expectIdsAreLastSequences(messages: readonly { lastEventId: string; data: StreamMessageJson }[]): void {
  for (const message of messages) {
    const events = message.data.events ?? [];
    if (events.length > 0) expect(message.lastEventId).toBe(events[events.length - 1]!.sequence);
  }
}

describe("SSE on GET /api/v1/runs/{run_id}/events:stream", () => {
  it("sends the run first (no id), then replayed and live events with id = the last sequence of each frame, then event: complete, and ends", async () => {
    const run = await newRun();
    await ingestRestEvents(tenant.rest, run.id, 2);
    const response = await openStream(`/api/v1/runs/${run.id}/events:stream`);
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("x-request-id")).toEqual(expect.any(String));
    const sse = readSse(response);
    await sse.until("the replayed events", (frames) => sequencesOf(messagesOf(frames)).includes(3));
    await ingestRestEvents(tenant.rest, run.id, 3);
    await sse.until("the live events", (frames) => sequencesOf(messagesOf(frames)).includes(6));
    await cancel(run.id);
    const frames = await sse.toEnd();

    const [first, ...others] = frames;
    expect(first!.id).toBeUndefined();
    expect(JSON.parse(first!.data)).toEqual({ run: expect.objectContaining({ id: run.id, status: "RUN_STATUS_QUEUED" }) });
    const last = others.pop()!;
    expect(last).toEqual({ id: undefined, event: "complete", data: "{}" });
    for (const frame of others) {
      expect(frame.event).toBeUndefined();
      const events = (JSON.parse(frame.data) as StreamMessageJson).events!;
      expect(events.length).toBeGreaterThan(0);
      expect(frame.id).toBe(events[events.length - 1]!.sequence);
    }
    expect(sequencesOf(messagesOf(frames))).toEqual(oneTo(7));
    expect(messagesOf(frames).at(-1)!.events!.at(-1)).toMatchObject({ type: "status", status: "RUN_STATUS_CANCELLED" });
  });

  it("replays stored events as one batch", async () => {
    const run = await newRun();
    await ingestRestEvents(tenant.rest, run.id, 4);
    await cancel(run.id);
    const frames = await readSse(await openStream(`/api/v1/runs/${run.id}/events:stream`)).toEnd();
    expect(frames.map((frame) => frame.id ?? frame.event)).toEqual([undefined, "6", "complete"]);
  });

  it("resumes after the sequence in Last-Event-ID, which wins over the afterSequence query parameter", async () => {
    const run = await newRun();
    await ingestRestEvents(tenant.rest, run.id, 4);
    await cancel(run.id);
    const resumed = await readSse(
      await openStream(`/api/v1/runs/${run.id}/events:stream?afterSequence=1`, { "last-event-id": "3" }),
    ).toEnd();
    expect(sequencesOf(messagesOf(resumed))).toEqual([4, 5, 6]);
    const byQuery = await readSse(await openStream(`/api/v1/runs/${run.id}/events:stream?afterSequence=5`)).toEnd();
    expect(sequencesOf(messagesOf(byQuery))).toEqual([6]);
    // Resuming at the terminal event: the run, nothing more, and the end.
    const atEnd = await readSse(await openStream(`/api/v1/runs/${run.id}/events:stream`, { "last-event-id": "6" })).toEnd();
    expect(atEnd.map((frame) => frame.event ?? "message")).toEqual(["message", "complete"]);
    const malformed = expectStatus(
      await restAnswer(openStream(`/api/v1/runs/${run.id}/events:stream`, { "last-event-id": "six" })),
      400,
      3,
    );
    expect(malformed.message).toContain("Last-Event-ID");
    // Past the last event (a stream would skip the terminal event and never end): 400.
    const past = expectStatus(await restAnswer(openStream(`/api/v1/runs/${run.id}/events:stream`, { "last-event-id": "50" })), 400, 3);
    expect(past.message).toBe("afterSequence: is past the run's last event (sequence 6)");
  });

  it("answers an unknown run, another tenant's run and a missing key with a JSON error, not a stream", async () => {
    expectStatus(await restAnswer(openStream("/api/v1/runs/00000000-0000-0000-0000-000000000000/events:stream")), 404, 5);
    const other = await createRestTenant(baseUrl);
    await createRestWorkflow(other.rest, "counter");
    const theirs = await createRestRun(other.rest, { workflow: "counter", input: { n: 1 } });
    expectStatus(await restAnswer(openStream(`/api/v1/runs/${theirs.id}/events:stream`)), 404, 5);
    const run = await newRun();
    expectStatus(await restAnswer(fetch(`${baseUrl}/api/v1/runs/${run.id}/events:stream`)), 401, 16);
  });

  it("is readable with a read-only key", async () => {
    const reader = await createRestKey(baseUrl, tenant.slug, ["SCOPE_READ"]);
    const run = await newRun();
    await cancel(run.id);
    const response = await fetch(`${baseUrl}/api/v1/runs/${run.id}/events:stream`, { headers: { authorization: `Bearer ${reader.key}` } });
    expect(sequencesOf(messagesOf(await readSse(response).toEnd()))).toEqual([1, 2]);
  });
});

describe("the other stream bindings", () => {
  it("serves the same stream at GET /api/v1/runs/{run_id}/stream", async () => {
    const run = await newRun();
    await ingestRestEvents(tenant.rest, run.id, 2);
    await cancel(run.id);
    const frames = await readSse(await openStream(`/api/v1/runs/${run.id}/stream`)).toEnd();
    expect(frames.map((frame) => frame.id ?? frame.event)).toEqual([undefined, "4", "complete"]);
    expect(sequencesOf(messagesOf(frames))).toEqual(oneTo(4));
  });

  it("switches GET /api/v1/runs/{run_id}/events to the stream for Accept: text/event-stream, and keeps JSON polling otherwise", async () => {
    const run = await newRun();
    await ingestRestEvents(tenant.rest, run.id, 2);
    const sse = readSse(await openStream(`/api/v1/runs/${run.id}/events?afterSequence=1`, { accept: "text/event-stream" }));
    await sse.until("the replayed events", (frames) => sequencesOf(messagesOf(frames)).includes(3));
    const polled = await tenant.rest.get<{ events: { sequence: string }[] }>(`/api/v1/runs/${run.id}/events?afterSequence=1`);
    expect(polled.headers.get("content-type")).toBe("application/json");
    expect(polled.body.events.map((event) => event.sequence)).toEqual(["2", "3"]);
    await cancel(run.id);
    const frames = await sse.toEnd();
    expect(sequencesOf(messagesOf(frames))).toEqual([2, 3, 4]);
    expect(frames.at(-1)!.event).toBe("complete");
  });

  it("creates a run and streams it from its first event at POST /api/v1/runs:stream", async () => {
    const sse = readSse(
      await openStream(
        "/api/v1/runs:stream",
        { accept: "text/event-stream" },
        { method: "POST", body: { run: { workflow: "counter", input: { n: 7 } } } },
      ),
    );
    await sse.until("the run and its first event", (frames) => sequencesOf(messagesOf(frames)).includes(1));
    const first = messagesOf(sse.frames)[0]!;
    expect(first.run).toMatchObject({ status: "RUN_STATUS_QUEUED", input: { n: 7 } });
    const runId = first.run!.id;
    await ingestRestEvents(tenant.rest, runId, 2);
    await cancel(runId);
    const frames = await sse.toEnd();
    expect(sequencesOf(messagesOf(frames))).toEqual(oneTo(4));
    for (const frame of frames.filter((candidate) => candidate.event === undefined && candidate.id !== undefined)) {
      expect(frame.id).toBe((JSON.parse(frame.data) as StreamMessageJson).events!.at(-1)!.sequence);
    }
    expect(frames.at(-1)).toEqual({ id: undefined, event: "complete", data: "{}" });
  });

  it("refuses a POST /api/v1/runs:stream whose run is invalid with a JSON 400 before any frame", async () => {
    const refused = await restAnswer(
      openStream("/api/v1/runs:stream", {}, { method: "POST", body: { run: { workflow: "counter", input: { n: "x" } } } }),
    );
    expectStatus(refused, 400, 3);
  });
});

describe("NDJSON for Accept: application/x-ndjson", () => {
  it("gives one JSON message per line on each stream binding, with no SSE framing and no completion line", async () => {
    const run = await newRun();
    await ingestRestEvents(tenant.rest, run.id, 2);
    await cancel(run.id);
    for (const path of [`/api/v1/runs/${run.id}/events:stream`, `/api/v1/runs/${run.id}/stream`]) {
      const response = await openStream(path, { accept: "application/x-ndjson" });
      expect(response.headers.get("content-type")).toBe("application/x-ndjson");
      const lines = (await readNdjsonToEnd(response)) as StreamMessageJson[];
      expect(lines[0]).toEqual({ run: expect.objectContaining({ id: run.id, status: "RUN_STATUS_CANCELLED" }) });
      expect(sequencesOf(lines)).toEqual(oneTo(4));
      expect(lines.every((line) => "run" in line || "events" in line)).toBe(true);
    }
  });

  it("streams a created run as NDJSON at POST /api/v1/runs:stream", async () => {
    const response = await openStream(
      "/api/v1/runs:stream",
      { accept: "application/x-ndjson" },
      { method: "POST", body: { run: { workflow: "counter", input: { n: 8 } } } },
    );
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    await within(
      10_000,
      "the first NDJSON line",
      (async () => {
        while (!text.includes("\n")) text += (await reader.read()).value ?? "";
      })(),
    );
    const first = JSON.parse(text.split("\n")[0]!) as StreamMessageJson;
    await cancel(first.run!.id);
    await within(
      10_000,
      "the end of the NDJSON stream",
      (async () => {
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value;
      })(),
    );
    const lines = text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as StreamMessageJson);
    expect(lines[0]!.run).toMatchObject({ input: { n: 8 } });
    expect(sequencesOf(lines)).toEqual([1, 2]);
  });
});

describe("EventSource clients", () => {
  const streamUrl = (runId: string, base = baseUrl) => `${base}/api/v1/runs/${runId}/events:stream`;

  it("receive each message with lastEventId = the last sequence in it, and stop on event: complete", async () => {
    const run = await newRun();
    const source = openEventSource(streamUrl(run.id), tenant.key, { closeOnComplete: true });
    await eventually("the run's first event", () => received(source).includes(1));
    await ingestRestEvents(tenant.rest, run.id, 3);
    await eventually("the ingested events", () => received(source).includes(4));
    await cancel(run.id);
    await eventually("the end of the stream", () => source.source.readyState === source.source.CLOSED);
    expect(source.completions()).toBe(1);
    expect(source.messages[0]).toEqual({ lastEventId: "", data: { run: expect.objectContaining({ id: run.id }) } });
    expectIdsAreLastSequences(source.messages);
    expect(received(source)).toEqual(oneTo(5));
    expect(source.attempts).toHaveLength(1);
  });

  it("lose and repeat nothing when a new EventSource resumes with the Last-Event-ID the first one reached", async () => {
    const run = await newRun();
    const before = openEventSource(streamUrl(run.id), tenant.key);
    await ingestRestEvents(tenant.rest, run.id, 3);
    await eventually("the events before the disconnect", () => received(before).includes(4));
    before.close(); // the client goes away
    const lastId = before.messages.at(-1)!.lastEventId;
    expect(lastId).toBe("4");

    await ingestRestEvents(tenant.rest, run.id, 3); // 5..7 while nobody listens
    const after = openEventSource(streamUrl(run.id), tenant.key, { headers: { "Last-Event-ID": lastId }, closeOnComplete: true });
    await eventually("the events missed while away", () => received(after).includes(7));
    await ingestRestEvents(tenant.rest, run.id, 2); // 8, 9 live
    await cancel(run.id); // 10
    await eventually("the end of the resumed stream", () => after.source.readyState === after.source.CLOSED);

    expect(after.attempts[0]!.get("last-event-id")).toBe("4");
    // What was missed comes back as one replayed batch, identified by its last sequence.
    expect(after.messages[1]).toEqual({
      lastEventId: "7",
      data: { events: [5, 6, 7].map((sequence) => expect.objectContaining({ sequence: String(sequence) })) },
    });
    expectIdsAreLastSequences([...before.messages, ...after.messages]);
    const union = [...received(before), ...received(after)];
    expect(union).toEqual(oneTo(10));
  });

  it("reconnect by themselves after a dropped connection, sending Last-Event-ID, and lose and repeat nothing", async () => {
    const proxy = await startCuttableProxy(new URL(baseUrl));
    const run = await newRun();
    const source = openEventSource(streamUrl(run.id, proxy.url), tenant.key, { closeOnComplete: true });
    await ingestRestEvents(tenant.rest, run.id, 2);
    await eventually("the events before the drop", () => received(source).includes(3));
    proxy.cutConnections(); // the network drops; the server is fine
    await ingestRestEvents(tenant.rest, run.id, 2); // 4, 5 while disconnected
    // eventsource waits its default 3 s reconnection time before trying again.
    await eventually("the EventSource's own reconnect", () => source.attempts.length === 2 && received(source).includes(5), 8000);
    await ingestRestEvents(tenant.rest, run.id, 1); // 6 live on the new connection
    await cancel(run.id); // 7
    await eventually("the end of the stream", () => source.source.readyState === source.source.CLOSED);

    expect(source.attempts[0]!.get("last-event-id")).toBeNull();
    expect(source.attempts[1]!.get("last-event-id")).toBe("3");
    expectIdsAreLastSequences(source.messages);
    expect(received(source)).toEqual(oneTo(7));
  });

  it("that do not close on event: complete reconnect after the end and are sent the run again but no event twice", async () => {
    const run = await newRun();
    await ingestRestEvents(tenant.rest, run.id, 2);
    await cancel(run.id);
    const source = openEventSource(streamUrl(run.id), tenant.key);
    await eventually("a reconnect after the end", () => source.completions() === 2, 8000);
    source.close();
    expect(source.attempts.map((attempt) => attempt.get("last-event-id"))).toEqual([null, "4"]);
    expect(received(source)).toEqual(oneTo(4));
    // The reconnect got only the run's state: close on `complete`, or poll a finished run forever.
    expect(source.messages.map((message) => Object.keys(message.data))).toEqual([["run"], ["events"], ["run"]]);
  });
});

/** A TCP proxy in front of the server whose connections the test can drop, like a flaky network. */
async function startCuttableProxy(target: URL): Promise<{ url: string; cutConnections(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    cutConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}
