/**
 * A client that gives up is not a failure of ours and not a success either: a unary call
 * abandoned in flight and a server stream abandoned mid-way (RST_STREAM CANCEL over gRPC,
 * a dropped HTTP/1.1 connection over Connect, gRPC-web and REST, a closed SSE stream, a
 * whole HTTP/2 connection torn down, a stream reset with an error code) are counted as
 * `canceled` in /metrics, never `ok` or `internal`, and logged below warn as the client
 * leaving, with no error line.
 */
import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StreamRunEventsRequestSchema } from "../../gen/runline/v1/runs_service_pb.js";
import type { RunningServer } from "../../src/server.js";
import { createCounterWorkflow, createTenant, json, protocols, type Protocol, type TenantFixture } from "../support/clients.js";
import { eventually } from "../support/expectations.js";
import { startLoggedServer } from "../support/logged-server.js";
import { labelValues, scrape, total } from "../support/metrics-scrape.js";
import { readSse } from "../rest/rest-streams.js";

const runAndWait = "/runline.v1.RunsService/RunAndWait";
const streamRunEvents = "/runline.v1.RunsService/StreamRunEvents";
/** The protocol label each client's calls are counted under. */
const protocolLabels: Record<Protocol, string> = { grpc: "grpc", "grpc-web": "grpc-web", "connect-json": "connect" };

let server: RunningServer;
let lines: string[];
let tenant: TenantFixture;

beforeAll(async () => {
  ({ server, lines } = await startLoggedServer("debug"));
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
});

afterAll(() => server.close());

const runCount = async () => (await tenant.runs().listRuns({ pageSize: 1000 })).runs.length;
const newRunId = async () => (await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;

/** Starts a RunAndWait with `start(signal)`, aborts it once its run exists (the call is in flight), and returns how it ended. */
async function abandonRunAndWait(start: (signal: AbortSignal) => Promise<unknown>): Promise<unknown> {
  const before = await runCount();
  const leaving = new AbortController();
  const ended = start(leaving.signal).then(
    () => "answered",
    (error: unknown) => error,
  );
  await eventually(10_000, "RunAndWait's run created", async () => ((await runCount()) > before ? true : undefined));
  leaving.abort();
  return ended;
}

/** The code, level and message of each call's log line (one per call, when it ends) of `procedure`. */
function callLogs(procedure: string): { code: unknown; level: number; msg: unknown }[] {
  return lines
    .map((line) => JSON.parse(line) as { procedure?: string; code?: unknown; level: number; msg?: unknown })
    .filter((entry) => entry.procedure === procedure && (entry.msg === "call" || entry.msg === "call failed"))
    .map(({ code, level, msg }) => ({ code, level, msg }));
}

/** The number of calls of `procedure` over `protocol` counted as `code`. */
const counted = (text: string, procedure: string, protocol: string, code: string) =>
  total(text, "runline_rpc_requests_total", { procedure, protocol, code });

describe("a client that abandons a unary call in flight", () => {
  it("is counted as canceled over gRPC, gRPC-web, Connect and REST, and logged as the client leaving", async () => {
    for (const protocol of protocols) {
      const ended = await abandonRunAndWait((signal) =>
        tenant.runs(protocol).runAndWait({ run: { workflow: "counter", input: json({ n: 1 }) } }, { signal }),
      );
      expect(ConnectError.from(ended).code, protocol).toBe(Code.Canceled);
    }
    const rest = await abandonRunAndWait((signal) =>
      fetch(`${server.url}/api/v1/runs:wait`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
        body: JSON.stringify({ run: { workflow: "counter", input: { n: 1 } } }),
        signal,
      }),
    );
    expect((rest as Error).name).toBe("AbortError");

    const expected = [...protocols.map((protocol) => protocolLabels[protocol]), "rest"];
    const text = await eventually(10_000, "four canceled RunAndWait calls", async () => {
      const scraped = await scrape(server.url);
      return expected.every((protocol) => counted(scraped, runAndWait, protocol, "canceled") === 1) ? scraped : undefined;
    });
    expect(total(text, "runline_rpc_requests_total", { procedure: runAndWait })).toBe(4);
    expect(total(text, "runline_rpc_duration_seconds_count", { procedure: runAndWait, code: "canceled" })).toBe(4);
    expect(callLogs(runAndWait)).toEqual(Array(4).fill({ code: "canceled", level: 20, msg: "call" }));
  });
});

describe("a client that abandons a server stream mid-way", () => {
  it("is counted as canceled over gRPC (RST_STREAM CANCEL), gRPC-web, Connect and REST SSE, and logged as the client leaving", async () => {
    for (const protocol of protocols) {
      const leaving = new AbortController();
      const stream = tenant.runs(protocol).streamRunEvents({ runId: await newRunId() }, { signal: leaving.signal });
      for await (const _message of stream) {
        leaving.abort();
        break;
      }
    }
    const leaving = new AbortController();
    const response = await fetch(`${server.url}/api/v1/runs/${await newRunId()}/events:stream`, {
      headers: { authorization: `Bearer ${tenant.key}` },
      signal: leaving.signal,
    });
    await readSse(response).until("the run's first frame", (frames) => frames.length > 0);
    leaving.abort();

    const expected = [...protocols.map((protocol) => protocolLabels[protocol]), "rest"];
    const text = await eventually(10_000, "four canceled streams", async () => {
      const scraped = await scrape(server.url);
      return expected.every((protocol) => counted(scraped, streamRunEvents, protocol, "canceled") === 1) ? scraped : undefined;
    });
    expect(total(text, "runline_rpc_requests_total", { procedure: streamRunEvents })).toBe(4);
    expect(total(text, "runline_active_streams", { procedure: streamRunEvents })).toBe(0);
    expect(callLogs(streamRunEvents)).toEqual(Array(4).fill({ code: "canceled", level: 20, msg: "call" }));
  });

  it("is counted as canceled however its HTTP/2 stream ends: connection gone, or reset with an error code", async () => {
    const endings: Record<string, (stream: http2.ClientHttp2Stream) => void> = {
      "connection gone": (stream) => stream.session!.socket.destroy(),
      "RST_STREAM INTERNAL_ERROR": (stream) => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR),
      "RST_STREAM ENHANCE_YOUR_CALM": (stream) => stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM),
    };
    for (const [ending, end] of Object.entries(endings)) {
      const before = counted(await scrape(server.url), streamRunEvents, "grpc", "canceled");
      end(await openGrpcStream(await newRunId()));
      await eventually(10_000, `the stream ended by "${ending}" counted as canceled`, async () =>
        counted(await scrape(server.url), streamRunEvents, "grpc", "canceled") === before + 1 ? true : undefined,
      );
    }
  });
});

/** A StreamRunEvents call over gRPC from Node's own HTTP/2 client, once its first message has arrived. */
async function openGrpcStream(runId: string): Promise<http2.ClientHttp2Stream> {
  const session = http2.connect(server.url);
  session.on("error", () => {});
  const request = toBinary(StreamRunEventsRequestSchema, create(StreamRunEventsRequestSchema, { runId }));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(request.length, 1);
  const stream = session.request({
    ":method": "POST",
    ":path": streamRunEvents,
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${tenant.key}`,
  });
  stream.on("error", () => {});
  stream.on("close", () => session.destroy());
  stream.end(Buffer.concat([prefix, Buffer.from(request)]));
  await new Promise((resolve) => stream.once("data", resolve));
  return stream;
}

describe("after every abandoned call", () => {
  it("no call was counted as ok, internal or unknown, and no line about a call was logged at warn or above", async () => {
    const text = await scrape(server.url);
    for (const procedure of [runAndWait, streamRunEvents]) {
      expect(total(text, "runline_rpc_requests_total", { procedure, code: "ok" }), procedure).toBe(0);
    }
    const codes = labelValues(text, "runline_rpc_requests_total", "code");
    expect(codes.has("internal") || codes.has("unknown")).toBe(false);
    // Every line about a call names its procedure (the call's own line, the adapter's
    // "response not delivered"); lines of background work (the webhook dispatcher) do not.
    const aboutCalls = lines.filter((line) => (JSON.parse(line) as { procedure?: string }).procedure !== undefined);
    expect(aboutCalls.length).toBeGreaterThanOrEqual(11);
    expect(aboutCalls.filter((line) => (JSON.parse(line) as { level: number }).level >= 40)).toEqual([]);
  });
});
