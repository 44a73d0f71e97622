/**
 * StreamRunEvents on the push path (api/run-event-push.ts, issue 14 (c)): Connect,
 * gRPC and gRPC-web calls are served without connect-es's per-stream pipeline, an idle
 * stream parked at its run's shared tail. That it is this path that serves is read from
 * the tails' census (`runline_stream_tail_parked`: only pushed streams park), not from
 * timing. Real clients: connect-node over HTTP/2 and HTTP/1.1, connect-node's gRPC,
 * connect-web's gRPC-web over fetch, @grpc/grpc-js; hostile requests over raw HTTP/2.
 */
import http2 from "node:http2";
import path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport as createFetchGrpcWebTransport } from "@connectrpc/connect-web";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunsService, StreamRunEventsRequestSchema, type StreamRunEventsResponse } from "../../gen/runline/v1/runs_service_pb.js";
import { bearer, createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { eventually, within } from "../support/expectations.js";
import { sample, scrape, total } from "../support/metrics-scrape.js";
import { openStalledReader } from "../support/stalled-readers.js";
import { startTestServer } from "../support/test-server.js";

let server: Awaited<ReturnType<typeof startTestServer>>;
let tenant: TenantFixture;

beforeAll(async () => {
  // A short stall timeout, so the stalled reader below is ended within the test.
  server = await startTestServer(undefined, { RUNLINE_STREAM_STALL_TIMEOUT_MS: "1500" });
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
});

const procedure = "/runline.v1.RunsService/StreamRunEvents";

/** The real clients of each protocol and transport the push path serves. */
const transports: Record<string, (baseUrl: string, key: string) => Transport> = {
  "connect-node, binary over HTTP/2": (baseUrl, key) =>
    createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors: [bearer(key)] }),
  "connect-node, JSON over HTTP/1.1": (baseUrl, key) =>
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors: [bearer(key)] }),
  "connect-node gRPC over HTTP/2": (baseUrl, key) => createGrpcTransport({ baseUrl, interceptors: [bearer(key)] }),
  "connect-web gRPC-web over fetch (HTTP/1.1)": (baseUrl, key) =>
    createFetchGrpcWebTransport({ baseUrl, useBinaryFormat: true, interceptors: [bearer(key)] }),
  "connect-web gRPC-web JSON over fetch (HTTP/1.1)": (baseUrl, key) =>
    createFetchGrpcWebTransport({ baseUrl, useBinaryFormat: false, interceptors: [bearer(key)] }),
};
const transportNames = Object.keys(transports);

function runsOver(name: string): Client<typeof RunsService> {
  return createClient(RunsService, transports[name]!(server.url, tenant.key));
}

async function createRun(): Promise<string> {
  const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
  return run!.id;
}

async function ingest(runId: string, count: number, text = ""): Promise<void> {
  await tenant.runs().ingestRunEvents({
    runId,
    events: Array.from({ length: count }, (_, index) => ({ type: "progress", data: json({ index, text }) })),
  });
}

async function figures() {
  const text = await scrape(server.url);
  return {
    parked: sample(text, "runline_stream_tail_parked") ?? -1,
    tails: sample(text, "runline_stream_tails") ?? -1,
    active: sample(text, "runline_active_streams", { procedure }) ?? 0,
    text,
  };
}

/** Waits until `count` streams are parked at their tails, i.e. served by push and idle. */
async function parked(count: number): Promise<void> {
  await eventually(10_000, `${count} streams parked`, async () => ((await figures()).parked === count ? true : undefined), 50);
}

/** Waits until no stream is open: none parked, no tail, none counted active. */
async function allClosed(): Promise<void> {
  await eventually(10_000, "every stream closed and its tail gone", async () => {
    const now = await figures();
    return now.parked === 0 && now.tails === 0 && now.active === 0 ? true : undefined;
  });
}

interface Collected {
  readonly messages: StreamRunEventsResponse[];
  readonly done: Promise<unknown>;
  readonly controller: AbortController;
}

/** Reads a stream to its end in the background; `done` resolves with its error, or undefined when it ended OK. */
function collect(runs: Client<typeof RunsService>, runId: string, afterSequence = 0n): Collected {
  const controller = new AbortController();
  const messages: StreamRunEventsResponse[] = [];
  const done = (async () => {
    for await (const message of runs.streamRunEvents({ runId, afterSequence }, { signal: controller.signal })) messages.push(message);
  })().then(
    () => undefined,
    (error: unknown) => error,
  );
  return { messages, done, controller };
}

function sequencesOf(messages: readonly StreamRunEventsResponse[]): number[] {
  return messages.flatMap((message) => message.events.map((event) => Number(event.sequence)));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

describe("StreamRunEvents on the push path", () => {
  it.each(transportNames)(
    "serves %s: parks it while idle, resumes after after_sequence, ends OK after the terminal event",
    async (name) => {
      const runId = await createRun();
      await ingest(runId, 4); // sequences 2–5 after the creation event
      const stream = collect(runsOver(name), runId, 3n);
      await parked(1);
      await ingest(runId, 3); // 6–8, pushed
      await tenant.runs().cancelRun({ runId });
      expect(await within(10_000, "the stream's end", stream.done)).toBeUndefined();
      expect(stream.messages[0]!.run?.id).toBe(runId);
      const { events } = await tenant.runs().listRunEvents({ runId, afterSequence: 3n });
      const last = Number(events.at(-1)!.sequence);
      expect(sequencesOf(stream.messages)).toEqual(range(4, last));
      await allClosed();
    },
  );

  it("serves @grpc/grpc-js, and its call is recorded as a gRPC call", async () => {
    const definition = protoLoader.loadSync("runline/v1/runs_service.proto", {
      includeDirs: [path.resolve("proto"), path.resolve("node_modules/google-proto-files")],
      longs: String,
      defaults: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      runline: { v1: { RunsService: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client } };
    };
    const stub = new loaded.runline.v1.RunsService(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as grpc.Client & {
      StreamRunEvents(request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<{ events: { sequence: string }[] }>;
    };
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${tenant.key}`);
    try {
      const runId = await createRun();
      const before = total((await figures()).text, "runline_rpc_requests_total", { procedure, protocol: "grpc", code: "ok" });
      const call = stub.StreamRunEvents({ runId, afterSequence: "0" }, metadata);
      const sequences: number[] = [];
      call.on("data", (message: { events: { sequence: string }[] }) => sequences.push(...message.events.map((e) => Number(e.sequence))));
      const ended = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
      call.on("error", () => undefined);
      await parked(1);
      await ingest(runId, 2);
      await tenant.runs().cancelRun({ runId });
      const status = await within(10_000, "the status", ended);
      expect(status.code).toBe(grpc.status.OK);
      expect(sequences[0]).toBe(1);
      expect(sequences).toEqual(range(1, sequences.length));
      await eventually(5_000, "the call recorded", async () =>
        total((await figures()).text, "runline_rpc_requests_total", { procedure, protocol: "grpc", code: "ok" }) === before + 1
          ? true
          : undefined,
      );
    } finally {
      stub.close();
    }
    await allClosed();
  });

  it("gives 30 subscribers of one run, across every client, the identical sequence", async () => {
    const runId = await createRun();
    const streams = Array.from({ length: 30 }, (_, index) => collect(runsOver(transportNames[index % transportNames.length]!), runId));
    await parked(30);
    for (let batch = 0; batch < 10; batch++) await ingest(runId, 3);
    await tenant.runs().cancelRun({ runId });
    const outcomes = await within(15_000, "every stream's end", Promise.all(streams.map((stream) => stream.done)));
    expect(outcomes).toEqual(Array(30).fill(undefined));
    const expected = sequencesOf(streams[0]!.messages);
    expect(expected).toEqual(range(1, expected.length));
    expect(expected.length).toBeGreaterThanOrEqual(32);
    for (const stream of streams) expect(sequencesOf(stream.messages)).toEqual(expected);
    await allClosed();
  });

  it("ends a stalled reader within its bounds while the others get every event", { timeout: 60_000 }, async () => {
    const runId = await createRun();
    const stalled = await openStalledReader("connect-h2", { baseUrl: server.url, key: tenant.key, runId });
    const others = transportNames.map((name) => collect(runsOver(name), runId));
    await parked(1 + others.length);
    // 40 KiB a batch: the stalled reader's window (64 KiB) and buffer fill within a few.
    const text = "x".repeat(4000);
    for (let batch = 0; batch < 20; batch++) await ingest(runId, 10, text);
    await eventually(10_000, "the others at the last event", async () =>
      others.every((stream) => sequencesOf(stream.messages).at(-1) === 201) ? true : undefined,
    );
    // Reset as stalled after 1.5 s without reading (RUNLINE_STREAM_STALL_TIMEOUT_MS), not held open.
    await eventually(10_000, "the stalled stream ended by the server", async () => {
      const now = await figures();
      return now.active === others.length && now.parked === others.length ? true : undefined;
    });
    const end = await within(
      10_000,
      "the stalled reader's end",
      stalled.resume().then(() => "closed", String),
    );
    expect(end).toMatch(new RegExp(`reset with code ${http2.constants.NGHTTP2_ENHANCE_YOUR_CALM}`));
    for (const stream of others) expect(sequencesOf(stream.messages)).toEqual(range(1, 201));
    others.forEach((stream) => stream.controller.abort());
    await allClosed();
  });

  it.each(transportNames)("cleans up when %s cancels mid-stream: the call is CANCELED, its tail gone", async (name) => {
    const runId = await createRun();
    const text = await scrape(server.url);
    const canceledBefore = total(text, "runline_rpc_requests_total", { procedure, code: "canceled" });
    const stream = collect(runsOver(name), runId);
    await parked(1);
    await ingest(runId, 2);
    await eventually(5_000, "the events", async () => (sequencesOf(stream.messages).length === 3 ? true : undefined));
    stream.controller.abort();
    await stream.done;
    await allClosed();
    await eventually(5_000, "the cancel recorded", async () =>
      total((await figures()).text, "runline_rpc_requests_total", { procedure, code: "canceled" }) === canceledBefore + 1
        ? true
        : undefined,
    );
  });

  it("ends with DEADLINE_EXCEEDED at the caller's deadline", async () => {
    const runId = await createRun();
    const started = performance.now();
    const stream = collect(runsOver(transportNames[0]!), runId);
    void stream;
    const runs = runsOver(transportNames[2]!);
    const timed = (async () => {
      for await (const _message of runs.streamRunEvents({ runId }, { timeoutMs: 1500 }));
    })().then(
      () => "ok",
      (error: { code?: number }) => error.code,
    );
    await parked(2);
    expect(await within(10_000, "the deadline", timed)).toBe(4);
    expect(performance.now() - started).toBeGreaterThan(1400);
    stream.controller.abort();
    await allClosed();
  });
});

describe("hostile requests to the push path", () => {
  let session: http2.ClientHttp2Session;
  beforeAll(() => {
    session = http2.connect(server.url);
    session.on("error", () => undefined);
  });
  afterAll(() => session.close());

  interface Answer {
    status: number;
    headers: http2.IncomingHttpHeaders;
    trailers: http2.IncomingHttpHeaders;
    body: Buffer;
  }

  function send(headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": procedure, authorization: `Bearer ${tenant.key}`, ...headers });
      const chunks: Buffer[] = [];
      let answer: Answer = { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0) };
      stream.on("response", (received) => (answer = { ...answer, status: Number(received[":status"]), headers: received }));
      stream.on("trailers", (trailers) => (answer = { ...answer, trailers }));
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => resolve({ ...answer, body: Buffer.concat(chunks) }));
      stream.on("error", reject);
      stream.end(body);
    });
  }

  function enveloped(message: Uint8Array, flags = 0, length = message.length): Buffer {
    const head = Buffer.alloc(5);
    head[0] = flags;
    head.writeUInt32BE(length, 1);
    return Buffer.concat([head, message]);
  }

  const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
  const connectHeaders = { "content-type": "application/connect+proto" };

  function connectEnd(answer: Answer): { error?: { code: string; message: string } } {
    const length = answer.body.readUInt32BE(1);
    expect(answer.body[0]).toBe(2);
    return JSON.parse(answer.body.subarray(5, 5 + length).toString("utf8")) as { error?: { code: string; message: string } };
  }

  const valid = () =>
    toBinary(StreamRunEventsRequestSchema, create(StreamRunEventsRequestSchema, { runId: "00000000-0000-4000-8000-000000000000" }));

  it.each<[string, string, () => Buffer]>([
    ["a message flagged compressed with no encoding", "3", () => enveloped(valid(), 1)],
    ["unknown envelope flags", "3", () => enveloped(valid(), 0x40)],
    ["a length prefix of 4 GB", "8", () => enveloped(Buffer.alloc(10), 0, 0xffffffff)],
    ["a truncated envelope", "3", () => enveloped(valid()).subarray(0, 3)],
    ["a message shorter than its prefix", "3", () => enveloped(valid(), 0, 500)],
    ["garbage after the message", "3", () => Buffer.concat([enveloped(valid()), Buffer.from("garbage")])],
    ["an undecodable message", "3", () => enveloped(Buffer.from([0xff, 0xff, 0xff, 0xff]))],
    ["no message at all", "3", () => Buffer.alloc(0)],
    ["an empty run id", "3", () => enveloped(toBinary(StreamRunEventsRequestSchema, create(StreamRunEventsRequestSchema, { runId: "" })))],
    ["a bad run id", "5", () => enveloped(toBinary(StreamRunEventsRequestSchema, create(StreamRunEventsRequestSchema, { runId: "nope" })))],
    [
      "a negative after_sequence",
      "3",
      () => enveloped(toBinary(StreamRunEventsRequestSchema, create(StreamRunEventsRequestSchema, { runId: "x", afterSequence: -1n }))),
    ],
  ])("gRPC: %s is answered with status %s", async (_what, code, body) => {
    const answer = await within(5_000, "the answer", send(grpcHeaders, body()));
    expect(answer.status).toBe(200);
    expect(answer.trailers["grpc-status"] ?? answer.headers["grpc-status"]).toBe(code);
    expect(decodeURIComponent(String(answer.trailers["grpc-message"] ?? answer.headers["grpc-message"]))).not.toBe("internal error");
  });

  it("Connect: a negative after_sequence is INVALID_ARGUMENT naming the field", async () => {
    const request = create(StreamRunEventsRequestSchema, { runId: "x", afterSequence: -1n });
    const end = connectEnd(await send(connectHeaders, enveloped(toBinary(StreamRunEventsRequestSchema, request))));
    expect(end.error?.code).toBe("invalid_argument");
    expect(end.error?.message).toContain("afterSequence");
  });

  it("Connect JSON: an unknown field is INVALID_ARGUMENT", async () => {
    const body = enveloped(Buffer.from(JSON.stringify({ runId: "x", nonsense: 1 })));
    const end = connectEnd(await send({ "content-type": "application/connect+json" }, body));
    expect(end.error?.code).toBe("invalid_argument");
  });

  it("no credential is UNAUTHENTICATED with the Bearer challenge", async () => {
    const stream = session.request({ ":method": "POST", ":path": procedure, ...grpcHeaders });
    const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
      stream.on("trailers", resolve);
      stream.on("response", (headers) => headers["grpc-status"] !== undefined && resolve(headers));
      stream.resume();
      stream.end(enveloped(valid()));
    });
    expect(trailers["grpc-status"]).toBe("16");
    expect(String(trailers["www-authenticate"])).toContain("Bearer");
  });

  it("a wrong content type is left to connect-es, which refuses it", async () => {
    const answer = await send({ "content-type": "text/plain" }, enveloped(valid()));
    expect(answer.status).toBe(415);
  });

  it("a content type with parameters is left to connect-es, which serves it (nothing parks)", async () => {
    const runId = await createRun();
    const body = enveloped(Buffer.from(JSON.stringify({ runId })));
    const headers = { ":method": "POST", ":path": procedure, authorization: `Bearer ${tenant.key}` };
    const stream = session.request({ ...headers, "content-type": "application/connect+json; charset=utf-8" });
    stream.on("error", () => undefined);
    const first = new Promise((resolve) => stream.once("data", resolve));
    stream.end(body);
    await within(5_000, "the first message", first);
    const now = await figures();
    expect(now.active).toBe(1);
    expect(now.parked).toBe(0);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await allClosed();
  });

  it("leaves the server serving and nothing open", async () => {
    await allClosed();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
