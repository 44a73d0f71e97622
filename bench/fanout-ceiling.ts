/**
 * The ceiling of the `fanout` group, in a process of its own (forked by fanout.ts): a raw
 * `node:http2` server that speaks just enough of Connect's streaming protocol for
 * StreamRunEvents and fans each published batch out from memory, with no database, no
 * auth, no router: what Node and the wire cost. A subscriber gets the same first message
 * as Runline sends (the run, no events) and then one StreamRunEventsResponse per batch,
 * encoded once and written to every subscriber of the run, as Runline's shared tail does.
 * The driver publishes with `POST /publish` (JSON: runId, events) and is answered with
 * the batch's last sequence. Prints its port on stdout, then serves until killed.
 */
import http2 from "node:http2";
import { create, fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import { timestampNow, ValueSchema } from "@bufbuild/protobuf/wkt";
import { RunSchema } from "../gen/runline/v1/run_pb.js";
import { StreamRunEventsRequestSchema, StreamRunEventsResponseSchema } from "../gen/runline/v1/runs_service_pb.js";
import { envelope } from "./fanout-client.js";

const runs = new Map<string, { last: number; streams: Set<http2.ServerHttp2Stream> }>();
const runOf = (runId: string) => {
  let run = runs.get(runId);
  if (run === undefined) runs.set(runId, (run = { last: 0, streams: new Set() }));
  return run;
};

function readAll(stream: http2.ServerHttp2Stream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on("stream", (stream, headers) => {
  stream.on("error", () => undefined);
  const path = headers[":path"];
  void readAll(stream).then((body) => {
    if (path === "/runline.v1.RunsService/StreamRunEvents") {
      const request = fromBinary(StreamRunEventsRequestSchema, body.subarray(5));
      const run = runOf(request.runId);
      stream.respond({ ":status": 200, "content-type": "application/connect+proto" });
      const first = create(StreamRunEventsResponseSchema, { run: create(RunSchema, { id: request.runId }) });
      stream.write(envelope(toBinary(StreamRunEventsResponseSchema, first)));
      run.streams.add(stream);
      stream.on("close", () => run.streams.delete(stream));
    } else if (path === "/publish") {
      const { runId, events } = JSON.parse(body.toString("utf8")) as { runId: string; events: { type: string; data: unknown }[] };
      const run = runOf(runId);
      const createTime = timestampNow();
      const message = create(StreamRunEventsResponseSchema, {
        events: events.map((event) => ({
          runId,
          sequence: BigInt(++run.last),
          type: event.type,
          data: fromJson(ValueSchema, event.data as never),
          createTime,
        })),
      });
      const framed = envelope(toBinary(StreamRunEventsResponseSchema, message));
      for (const subscriber of run.streams) subscriber.write(framed);
      stream.respond({ ":status": 200, "content-type": "application/json" });
      stream.end(JSON.stringify({ last: run.last }));
    } else {
      stream.respond({ ":status": 404 });
      stream.end();
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${typeof address === "object" && address !== null ? address.port : 0}\n`);
});
