/**
 * Clients that open a run's event stream and then stop reading, over every protocol the
 * server speaks: the slow peers of issue 11. Over HTTP/2 a paused Node stream (its flow
 * control window closes once its buffer is full); over HTTP/1.1 a raw socket that sends
 * the request and never reads. Each can later resume and count what it receives, so a
 * test can check that a stalled reader loses nothing.
 */
import http2 from "node:http2";
import net from "node:net";
import type { Readable } from "node:stream";
import { create, toBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { StreamRunEventsRequestSchema } from "../../gen/runline/v1/runs_service_pb.js";

/** The ways a stalled reader can reach StreamRunEvents. */
export const stalledProtocols = ["grpc-h2", "connect-h2", "connect-h1", "grpc-web-h1", "sse-h1", "sse-h2"] as const;
export type StalledProtocol = (typeof stalledProtocols)[number];

/** An open stream whose reader is not reading. */
export interface StalledReader {
  readonly protocol: StalledProtocol;
  /** Starts reading; resolves with every byte of the response body once it ends. */
  resume(): Promise<Buffer>;
  /** Goes away without reading the rest (a reset over HTTP/2, a closed socket over HTTP/1.1). */
  close(): void;
}

/** Where and as whom to open the stream. */
export interface StalledTarget {
  /** http://host:port */
  readonly baseUrl: string;
  readonly key: string;
  readonly runId: string;
  readonly afterSequence?: bigint;
}

const procedure = "/runline.v1.RunsService/StreamRunEvents";

/** The request message in a 5-byte envelope (flags, big-endian length), as gRPC and Connect streams frame it. */
function envelopedRequest(target: StalledTarget): Buffer {
  const message = toBinary(
    StreamRunEventsRequestSchema,
    create(StreamRunEventsRequestSchema, { runId: target.runId, afterSequence: target.afterSequence ?? 0n }),
  );
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

function restPath(target: StalledTarget): string {
  return `/api/v1/runs/${target.runId}/events:stream${target.afterSequence === undefined ? "" : `?afterSequence=${target.afterSequence}`}`;
}

/** Opens one stream and stops reading once its response has begun. */
export async function openStalledReader(protocol: StalledProtocol, target: StalledTarget): Promise<StalledReader> {
  switch (protocol) {
    case "grpc-h2":
      return openHttp2(
        protocol,
        target,
        { ":method": "POST", ":path": procedure, "content-type": "application/grpc+proto", te: "trailers" },
        envelopedRequest(target),
      );
    case "connect-h2":
      return openHttp2(
        protocol,
        target,
        { ":method": "POST", ":path": procedure, "content-type": "application/connect+proto", "connect-protocol-version": "1" },
        envelopedRequest(target),
      );
    case "sse-h2":
      return openHttp2(protocol, target, { ":method": "GET", ":path": restPath(target), accept: "text/event-stream" }, undefined);
    case "connect-h1":
      return openHttp1(
        protocol,
        target,
        "POST",
        procedure,
        { "Content-Type": "application/connect+proto", "Connect-Protocol-Version": "1" },
        envelopedRequest(target),
      );
    case "grpc-web-h1":
      return openHttp1(
        protocol,
        target,
        "POST",
        procedure,
        { "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1" },
        envelopedRequest(target),
      );
    case "sse-h1":
      return openHttp1(protocol, target, "GET", restPath(target), { Accept: "text/event-stream" }, undefined);
  }
}

/**
 * Reads what is buffered and what follows, until `closed` (recorded from the start,
 * since a reset may come while the reader is paused); `closed` resolves with a failure
 * description, or undefined for a clean end.
 */
async function readToClose(readable: Readable, closed: Promise<string | undefined>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  readable.on("data", (chunk: Buffer) => chunks.push(chunk));
  readable.resume();
  const failure = await closed;
  if (failure !== undefined) throw new Error(failure);
  return Buffer.concat(chunks);
}

async function openHttp2(
  protocol: StalledProtocol,
  target: StalledTarget,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer | undefined,
): Promise<StalledReader> {
  const session = http2.connect(target.baseUrl);
  session.on("error", () => undefined); // a reset by the server is an outcome the caller inspects, not a crash
  const stream = session.request({ ...headers, authorization: `Bearer ${target.key}` }, { endStream: body === undefined });
  stream.on("error", () => undefined);
  const closed = new Promise<string | undefined>((resolve) => {
    stream.once("close", () =>
      resolve(
        stream.rstCode === undefined || stream.rstCode === http2.constants.NGHTTP2_NO_ERROR
          ? undefined
          : `the stream was reset with code ${stream.rstCode}`,
      ),
    );
  });
  if (body !== undefined) stream.end(body);
  // Paused, the stream takes 16 KiB into its buffer and then stops consuming: the
  // server's flow-control window for it (64 KiB) is never opened again.
  stream.pause();
  await new Promise<void>((resolve, reject) => {
    stream.once("response", () => resolve());
    stream.once("close", () => reject(new Error(`${protocol}: the stream closed before its response began`)));
  });
  return {
    protocol,
    async resume() {
      try {
        return await readToClose(stream, closed);
      } finally {
        session.close();
      }
    },
    close() {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
    },
  };
}

async function openHttp1(
  protocol: StalledProtocol,
  target: StalledTarget,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<StalledReader> {
  const url = new URL(target.baseUrl);
  const socket = net.connect(Number(url.port), url.hostname);
  let failure: string | undefined;
  socket.on("error", (error) => (failure = String(error)));
  const closed = new Promise<string | undefined>((resolve) => socket.once("close", () => resolve(failure)));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${url.host}`, `Authorization: Bearer ${target.key}`, "Connection: close"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== undefined) lines.push(`Content-Length: ${body.length}`);
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  if (body !== undefined) socket.write(body);
  socket.pause();
  return {
    protocol,
    // Connection: close, so the response ends where the socket does (chunked framing included).
    resume: () => readToClose(socket, closed),
    close: () => socket.destroy(),
  };
}

/**
 * Appends `count` events of about `bytesEach` bytes of JSON each to a run straight in
 * SQL, with gapless sequences after the run's last one as event-store.ts writes them:
 * tens of megabytes of log in seconds, where IngestRunEvents would take minutes.
 */
export async function seedRunEvents(databaseUrl: string, runId: string, count: number, bytesEach: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("begin");
    await client.query(
      `with r as (select tenant_id, id, last_sequence from runs where id = $1::uuid for update)
       insert into run_events (tenant_id, run_id, sequence, type, data)
       select r.tenant_id, r.id, r.last_sequence + g, 'log', jsonb_build_object('n', g, 'text', repeat('x', $3::int))
       from r, generate_series(1, $2::int) as g`,
      [runId, count, Math.max(0, bytesEach - 24)],
    );
    await client.query(`update runs set last_sequence = last_sequence + $2::int where id = $1::uuid`, [runId, count]);
    await client.query("commit");
  } finally {
    await client.end();
  }
}

/**
 * Server streams the server counts as open (`runline_active_streams`, every procedure):
 * a stream leaves the count only when its handler's generator has ended, which is when
 * its event-hub subscription is released.
 */
export async function openServerStreams(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return [...text.matchAll(/^runline_active_streams\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
}
