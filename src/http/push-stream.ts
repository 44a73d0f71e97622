/**
 * The wire side of server streams served without connect-es's per-call pipeline (the
 * push path): which calls it speaks, reading their one request message, and writing
 * messages and the end of the call as the Connect streaming, gRPC and gRPC-web protocols
 * frame them. It knows nothing about what is streamed.
 *
 * Why: connect-es serves a server stream as a chain of async generators (its transforms,
 * then each interceptor and writer), each parked on next() with its own promises while
 * the stream is idle: about 36 KB of heap and 90 KB of RSS per idle stream (issue 14,
 * bench fanout (c)). A pushed stream is a few plain objects until a message comes, and a
 * message is framed once and the same bytes written to every stream of the same codec:
 * the 5-byte envelope (flags, length) is the same in all three protocols.
 *
 * Only the plain case is taken: POST, an exact content type listed below, no request
 * compression, a deadline header that parses. Everything else (compressed requests,
 * gRPC-web text, gRPC over HTTP/1.1, odd headers) is left to connect-es, which answers
 * it as before, so no caller is worse off.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { endStreamFlag, endStreamToJson } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { HttpRequest, HttpResponse } from "./handler-chain.js";
import { isResponseClosed, maxTimerMs, requestChunks, toNodeHeaders } from "./transcoding/index.js";

/** The three RPC protocols, as logs and metrics name them. */
export type PushProtocol = "connect" | "grpc" | "grpc-web";

/** How messages are serialized. */
export type PushCodec = "proto" | "json";

/** A call the push path speaks, read from its headers. */
export interface PushCall {
  readonly protocol: PushProtocol;
  readonly codec: PushCodec;
  /** The response's content type (the request's own). */
  readonly contentType: string;
  /** The caller's deadline in ms (capped at the longest Node timer); undefined: none. */
  readonly timeoutMs: number | undefined;
}

const contentTypes: Readonly<Record<string, { protocol: PushProtocol; codec: PushCodec }>> = {
  "application/connect+proto": { protocol: "connect", codec: "proto" },
  "application/connect+json": { protocol: "connect", codec: "json" },
  "application/grpc": { protocol: "grpc", codec: "proto" },
  "application/grpc+proto": { protocol: "grpc", codec: "proto" },
  "application/grpc+json": { protocol: "grpc", codec: "json" },
  "application/grpc-web": { protocol: "grpc-web", codec: "proto" },
  "application/grpc-web+proto": { protocol: "grpc-web", codec: "proto" },
  "application/grpc-web+json": { protocol: "grpc-web", codec: "json" },
};

const grpcUnitMs: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The call `request` asks for when the push path speaks it, else undefined (connect-es
 * answers it). A deadline of 1 ms or less is left to connect-es too: its request gate
 * answers that one before reading anything (api/request-gate.ts).
 */
export function pushCallOf(request: HttpRequest): PushCall | undefined {
  if (request.method !== "POST") return undefined;
  const contentType = request.headers["content-type"];
  const kind = contentType === undefined ? undefined : contentTypes[contentType];
  if (kind === undefined || contentType === undefined) return undefined;
  // gRPC needs trailers, which HTTP/1.1 responses of Node cannot be relied on for.
  if (kind.protocol === "grpc" && request.httpVersionMajor !== 2) return undefined;
  const encodingHeader = kind.protocol === "connect" ? "connect-content-encoding" : "grpc-encoding";
  const encoding = request.headers[encodingHeader];
  if (encoding !== undefined && encoding !== "identity") return undefined;
  const timeoutMs = kind.protocol === "connect" ? connectTimeoutMs(request) : grpcTimeoutMs(request);
  if (timeoutMs === null || (timeoutMs !== undefined && timeoutMs <= 1)) return undefined;
  return { ...kind, contentType, timeoutMs };
}

/** `connect-timeout-ms`: undefined when absent, null when malformed. */
function connectTimeoutMs(request: HttpRequest): number | undefined | null {
  const value = request.headers["connect-timeout-ms"];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^\d{1,10}$/.test(value)) return null;
  return Math.min(Number(value), maxTimerMs);
}

/** `grpc-timeout` (up to 8 digits and a unit): undefined when absent, null when malformed. */
function grpcTimeoutMs(request: HttpRequest): number | undefined | null {
  const value = request.headers["grpc-timeout"];
  if (value === undefined) return undefined;
  const match = typeof value === "string" ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  if (match === null) return null;
  return Math.min(Number(match[1]) * grpcUnitMs[match[2]!]!, maxTimerMs);
}

/**
 * The request's one message: the body must be exactly one uncompressed envelope of at
 * most `maxBytes`. Rejects with INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for a message
 * over the limit, as connect-es does) naming what was wrong; stops reading at the first
 * fault, leaving the rest of the body to request-discard.ts.
 */
export async function readRequestMessage(request: HttpRequest, maxBytes: number): Promise<Uint8Array> {
  let received = Buffer.alloc(0);
  const chunks = requestChunks(request);
  try {
    for await (const chunk of chunks) {
      received = received.length === 0 ? Buffer.from(chunk) : Buffer.concat([received, chunk]);
      if (received.length >= 5) checkEnvelopeHead(received, maxBytes);
      if (received.length > 5 && received.length > 5 + received.readUInt32BE(1)) break;
    }
  } finally {
    await chunks.return(undefined);
  }
  if (received.length === 0) throw protocolError("missing input message for server_streaming method");
  if (received.length < 5 || received.length < 5 + received.readUInt32BE(1)) throw protocolError("incomplete envelope");
  const length = received.readUInt32BE(1);
  if (received.length > 5 + length) throw protocolError("received extra input message for server_streaming method");
  return received.subarray(5, 5 + length);
}

function checkEnvelopeHead(received: Buffer, maxBytes: number): void {
  const flags = received[0]!;
  if ((flags & 0x01) !== 0) throw protocolError("received a compressed envelope, but the request names no encoding");
  if (flags !== 0) throw protocolError(`unexpected envelope flags ${flags}`);
  const length = received.readUInt32BE(1);
  if (length > maxBytes)
    throw new ConnectError(`message size ${length} is larger than configured readMaxBytes ${maxBytes}`, Code.ResourceExhausted);
}

function protocolError(what: string): ConnectError {
  return new ConnectError(`protocol error: ${what}`, Code.InvalidArgument);
}

/** One data envelope around `message`: flags 0 and the length, as all three protocols frame messages. */
export function frameMessage(message: Uint8Array): Uint8Array {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** The response headers, before the first message or the end; `header` holds the call's own (request id …). */
export function writePushHead(response: HttpResponse, call: PushCall, header: Readonly<Record<string, string>>): void {
  if (response.headersSent) return;
  response.writeHead(200, { ...header, "content-type": call.contentType });
}

/**
 * Ends the call with `error` (undefined: OK) as its protocol ends one: the Connect
 * end-of-stream message, gRPC trailers, or gRPC-web's trailer frame; the error's
 * metadata goes with it. Nothing is written when the response already closed (the
 * client left, or it was reset).
 */
export function endPushCall(
  response: HttpResponse,
  call: PushCall,
  header: Readonly<Record<string, string>>,
  error: ConnectError | undefined,
): void {
  if (isResponseClosed(response) || response.writableEnded) return;
  writePushHead(response, call, header);
  if (call.protocol === "connect") {
    const json = JSON.stringify(endStreamToJson(new Headers(), error, undefined));
    response.end(envelope(endStreamFlag, Buffer.from(json, "utf8")));
  } else if (call.protocol === "grpc") {
    response.addTrailers(toNodeHeaders(setTrailerStatus(new Headers(), error)));
    response.end();
  } else {
    response.end(envelope(trailerFlag, trailerSerialize(setTrailerStatus(new Headers(), error))));
  }
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const frame = frameMessage(data);
  frame[0] = flags;
  return frame;
}
