/**
 * Backpressure on server streams (issue 11), against a server in its own process so its
 * memory can be read: a client that stops reading holds about one message on the
 * server, over every protocol (gRPC, Connect and REST SSE over HTTP/2; Connect, gRPC-web
 * and REST SSE over HTTP/1.1); a client that leaves frees its stream; a reader that
 * resumes gets every event in order; a client stalled past RUNLINE_STREAM_STALL_TIMEOUT_MS
 * is reset. Memory bounds are generous (the machine is shared); without the fixes the
 * figures were an order of magnitude above them (see each test).
 */
import http2 from "node:http2";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { RunsService, type StreamRunEventsResponse } from "../../gen/runline/v1/runs_service_pb.js";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { eventually, sleep, within } from "../support/expectations.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { openServerStreams, openStalledReader, seedRunEvents, stalledProtocols } from "../support/stalled-readers.js";
import { createTestDatabase } from "../support/test-database.js";

/** 200 events of 100 KiB: 20 MB of log, more than loopback's socket buffers hold. */
const eventCount = 200;
const eventBytes = 100 * 1024;
const readersPerProtocol = 10;
const megabyte = 1024 * 1024;

let server: ServerProcess;
let tenant: TenantFixture;
let databaseUrl: string;
let runId: string;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  server = await startServerProcess({}, databaseUrl);
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
  runId = await seededRun();
});

/** A QUEUED run (its creation event is sequence 1) with `eventCount` large events after it. */
async function seededRun(): Promise<string> {
  const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
  await seedRunEvents(databaseUrl, run!.id, eventCount, eventBytes);
  return run!.id;
}

function bearer(key: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
}

/** Real clients whose reader can pause: a stream not pulled is not read from the socket. */
const clientTransports: Record<string, (baseUrl: string, key: string) => Transport> = {
  "grpc over HTTP/2": (baseUrl, key) => createGrpcTransport({ baseUrl, interceptors: [bearer(key)] }),
  "Connect binary over HTTP/2": (baseUrl, key) =>
    createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors: [bearer(key)] }),
  "Connect JSON over HTTP/1.1": (baseUrl, key) =>
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors: [bearer(key)] }),
  "gRPC-web over HTTP/1.1": (baseUrl, key) =>
    createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [bearer(key)] }),
};

const lastSequence = BigInt(eventCount + 1);

/** Reads messages until the run's last seeded event; every message, in order. */
async function readUntilLast(messages: AsyncIterator<StreamRunEventsResponse>): Promise<StreamRunEventsResponse[]> {
  const read: StreamRunEventsResponse[] = [];
  for (;;) {
    const next = await within(20_000, "the next stream message", messages.next());
    if (next.done === true) throw new Error("the stream ended before the last event");
    read.push(next.value);
    if (next.value.events.at(-1)?.sequence === lastSequence) return read;
  }
}

const sequencesOf = (messages: readonly StreamRunEventsResponse[]) =>
  messages.flatMap((message) => message.events.map((event) => Number(event.sequence)));
const everySequence = Array.from({ length: eventCount + 1 }, (_, index) => index + 1);

describe("a stream's messages", () => {
  // Before: one message of all 201 events (20 MB).
  it("hold at most 256 KiB of events (here two of 100 KiB), never fewer than one", async () => {
    const controller = new AbortController();
    const runs = createClient(RunsService, clientTransports["grpc over HTTP/2"]!(server.url, tenant.key));
    const messages = await readUntilLast(runs.streamRunEvents({ runId }, { signal: controller.signal })[Symbol.asyncIterator]());
    controller.abort();
    const batches = messages.slice(1).map((message) => message.events.length);
    expect(Math.max(...batches)).toBeLessThanOrEqual(3); // the 100-byte creation event and two large ones
    expect(sequencesOf(messages)).toEqual(everySequence);
  });
});

describe("clients that stop reading", () => {
  // Before the fixes, 10 readers of this log grew the server by about 10 × 20 MB over
  // gRPC, and their streams stayed open after the readers left.
  it.each(stalledProtocols)("hold about one message each on the server over %s, and free it when they leave", async (protocol) => {
    const baseline = server.rssBytes();
    const readers = await Promise.all(
      Array.from({ length: readersPerProtocol }, () => openStalledReader(protocol, { baseUrl: server.url, key: tenant.key, runId })),
    );
    await eventually(
      10_000,
      "every stream open",
      async () => ((await openServerStreams(server.url)) >= readersPerProtocol ? true : undefined),
      100,
    );
    let peak = baseline;
    for (let sample = 0; sample < 12; sample++) {
      peak = Math.max(peak, server.rssBytes());
      await sleep(250);
    }
    for (const reader of readers) reader.close();
    await eventually(5_000, "no stream left open", async () => ((await openServerStreams(server.url)) === 0 ? true : undefined), 100);
    const growthMb = (peak - baseline) / megabyte;
    console.info(
      `${protocol}: ${readersPerProtocol} stalled readers grew the server by ${growthMb.toFixed(1)} MB (RSS ${(baseline / megabyte).toFixed(0)} → ${(peak / megabyte).toFixed(0)} MB)`,
    );
    // Half of what the unbounded server took (≈ 200 MB): 0.1–43 MB alone, 72 MB once
    // during the whole suite on two busy cores, where collection lags the allocations.
    expect(growthMb).toBeLessThan(100);
  });
});

describe("a reader that stalls and then resumes", () => {
  it.each(Object.keys(clientTransports))("gets every event, in order, over %s", async (name) => {
    const controller = new AbortController();
    const runs = createClient(RunsService, clientTransports[name]!(server.url, tenant.key));
    const messages = runs.streamRunEvents({ runId }, { signal: controller.signal })[Symbol.asyncIterator]();
    const first = await within(10_000, "the first message", messages.next());
    await sleep(1_500); // the server meanwhile fills the socket and waits for 'drain'
    const rest = await readUntilLast(messages);
    controller.abort();
    expect(sequencesOf([first.value as StreamRunEventsResponse, ...rest])).toEqual(everySequence);
  });

  it("gets every event, in order, over REST SSE, each frame's id its last sequence", async () => {
    const response = await fetch(`${server.url}/api/v1/runs/${runId}/events:stream`, {
      headers: { authorization: `Bearer ${tenant.key}`, accept: "text/event-stream" },
    });
    const body = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await within(10_000, "the first SSE chunk", body.read())).value, { stream: true });
    await sleep(1_500); // the server meanwhile fills the socket and waits for 'drain'
    const lastFrame = `id: ${eventCount + 1}\n`;
    // Until the frame of the last event is complete (its blank line has come).
    while (!text.includes(lastFrame) || !text.slice(text.indexOf(lastFrame)).includes("\n\n")) {
      const chunk = await within(20_000, "the next SSE chunk", body.read());
      if (chunk.done) throw new Error("the SSE stream ended before the last event");
      text += decoder.decode(chunk.value, { stream: true });
    }
    await body.cancel();
    // Each frame's id is its last sequence: increasing, so Last-Event-ID resumes after it.
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const sequences = [...text.matchAll(/"sequence":"(\d+)"/g)].map((match) => Number(match[1]));
    expect(sequences).toEqual(everySequence);
  });
});

describe("a client stalled past RUNLINE_STREAM_STALL_TIMEOUT_MS", () => {
  let strict: ServerProcess;
  beforeAll(async () => {
    strict = await startServerProcess({ RUNLINE_STREAM_STALL_TIMEOUT_MS: "1500" }, databaseUrl);
  });

  it.each(["grpc-h2", "sse-h1"] as const)(
    "is reset over %s (HTTP/2: ENHANCE_YOUR_CALM; HTTP/1.1: the connection closed) and its stream ends",
    async (protocol) => {
      const reader = await openStalledReader(protocol, { baseUrl: strict.url, key: tenant.key, runId });
      await eventually(5_000, "the stream open", async () => ((await openServerStreams(strict.url)) > 0 ? true : undefined), 50);
      await eventually(
        15_000,
        "the stalled stream ended by the server",
        async () => ((await openServerStreams(strict.url)) === 0 ? true : undefined),
        100,
      );
      // What the client had buffered, then the end: a reset, or the closed connection.
      const end = await within(
        10_000,
        "the end of the response",
        reader.resume().then(
          () => "closed",
          (error: unknown) => String(error),
        ),
      );
      expect(end).toMatch(
        protocol === "grpc-h2" ? new RegExp(`reset with code ${http2.constants.NGHTTP2_ENHANCE_YOUR_CALM}$`) : /closed|ECONNRESET/,
      );
    },
  );

  // gRPC's HTTP/2 mapping makes ENHANCE_YOUR_CALM RESOURCE_EXHAUSTED (grpc-js, grpc-go);
  // connect-node's client reports the stream error as INTERNAL with the code in its message.
  it("ends a connect-node gRPC client's stream with ENHANCE_YOUR_CALM", async () => {
    const controller = new AbortController();
    const runs = createClient(RunsService, clientTransports["grpc over HTTP/2"]!(strict.url, tenant.key));
    const messages = runs.streamRunEvents({ runId }, { signal: controller.signal })[Symbol.asyncIterator]();
    await within(10_000, "the first message", messages.next());
    await sleep(4_000);
    const outcome = await within(
      20_000,
      "the end",
      readUntilLast(messages).then(
        () => undefined,
        (error: unknown) => error,
      ),
    );
    controller.abort();
    expect(String(outcome)).toMatch(/ENHANCE_YOUR_CALM/);
  });
});
