/**
 * Server-streaming RPCs for REST callers, in one of two framings chosen by `Accept`:
 * - Server-Sent Events (`text/event-stream`, also the default): each message as
 *   `id: <id>\n` (when the app gives one) and `data: <json>\n\n`; a `: keep-alive`
 *   comment after each idle interval so proxies keep the connection; a mid-stream error
 *   as `event: error` with google.rpc.Status JSON; a clean end as `event: complete` with
 *   `data: {}` (as vanguard-go sends it), so an EventSource can tell an end from a drop
 *   and stop reconnecting.
 * - Newline-delimited JSON (`application/x-ndjson`): one message per line, a mid-stream
 *   error as a last `{"error": <status>}` line (grpc-gateway's error line).
 * Headers go out with the first frame (a keep-alive comment counts), so an error before
 * it is a plain JSON error response with its own HTTP status, as in grpc-gateway; the
 * RPC's response headers are copied only if they arrive before that first frame, and its
 * trailers are not sent (HTTP/1.1 trailers are rarely readable by clients). A client
 * that disconnects aborts the call's signal, which the handler sees as ctx.signal at once.
 */
import type { DescMethodStreaming, JsonValue, Message } from "@bufbuild/protobuf";
import { copyResponseMetadata, toNodeHeaders } from "./metadata-headers.js";
import { headerValue } from "./request-body.js";
import { statusJson } from "./status-json.js";
import { responseJson } from "./response-json.js";
import {
  isResponseClosed,
  watchClientDisconnect,
  writeErrorResponse,
  writeWithBackpressure,
  type NodeResponse,
} from "./response-writer.js";
import { hideUnexpectedError } from "./rest-errors.js";
import type { CallEnvironment, PreparedCall } from "./prepared-call.js";

/** The two framings a REST stream can use. */
export type StreamFormat = "sse" | "ndjson";

/** NDJSON when `Accept` names it before (or without) `text/event-stream`; SSE otherwise. */
export function streamFormatFor(accept: string | undefined): StreamFormat {
  const types = (accept ?? "").split(",").map((part) => (part.split(";")[0] ?? "").trim().toLowerCase());
  const ndjson = types.indexOf("application/x-ndjson");
  const sse = types.indexOf("text/event-stream");
  return ndjson !== -1 && (sse === -1 || ndjson < sse) ? "ndjson" : "sse";
}

/** Calls a server-streaming RPC and relays its messages until it ends, fails or the client leaves. */
export async function serveServerStream(call: PreparedCall, environment: CallEnvironment): Promise<void> {
  const { response, binding } = call;
  const format = streamFormatFor(headerValue(call.request, "accept"));
  const disconnect = watchClientDisconnect(response);
  // Aborted however the relay stops (the end, a failure, the client gone or reset as
  // stalled): a call whose messages are no longer read must be told, or its handler waits
  // for a reader for ever (see createInProcessTransport in the server's wiring).
  const relay = new AbortController();
  const signal = AbortSignal.any([disconnect.signal, relay.signal]);
  const writer = createFrameWriter(
    response,
    format,
    call.responseHeaders,
    format === "sse" ? environment.keepAliveMs : undefined,
    environment.stallTimeoutMs,
  );
  try {
    const method = binding.method as DescMethodStreaming;
    const result = await environment.transport.stream(method, signal, call.timeoutMs, call.metadata, singleMessage(call.message));
    if (!writer.committed) copyResponseMetadata(result.header, call.responseHeaders);
    for await (const message of result.message) {
      await writer.send(frameMessage(format, responseJson(binding, message, environment.registry), eventIdOf(environment, call, message)));
    }
    writer.end(format === "sse" ? "event: complete\ndata: {}\n\n" : "");
  } catch (error) {
    if (disconnect.signal.aborted || isResponseClosed(response)) return; // nobody is listening any more (left, or reset as stalled)
    const connectError = hideUnexpectedError(error, environment.reportInternalError);
    if (!writer.committed) return writeErrorResponse(response, connectError, call.responseHeaders, environment.registry);
    const status = statusJson(connectError, environment.registry);
    writer.end(format === "sse" ? `event: error\ndata: ${JSON.stringify(status)}\n\n` : `${JSON.stringify({ error: status })}\n`);
  } finally {
    relay.abort();
    writer.stop();
    disconnect.dispose();
  }
}

/** Writes frames, committing the 200 and its headers with the first one. */
interface FrameWriter {
  /** True once the status line and headers are out. */
  readonly committed: boolean;
  /**
   * Writes a frame, waits while the client is slow to read (the RPC's next message is
   * not pulled meanwhile), restarts the keep-alive clock; rejects when the client left
   * or stalled.
   */
  send(frame: string): Promise<void>;
  /** Writes a last frame ("" for none) and ends the response. */
  end(frame: string): void;
  /** Stops the keep-alive timer. */
  stop(): void;
}

/** `keepAliveMs` undefined: no keep-alive comments (NDJSON has no comment syntax). */
function createFrameWriter(
  response: NodeResponse,
  format: StreamFormat,
  headers: Headers,
  keepAliveMs: number | undefined,
  stallTimeoutMs: number,
): FrameWriter {
  let committed = false;
  let timer: NodeJS.Timeout | undefined;
  const commit = (): void => {
    if (committed) return;
    committed = true;
    headers.set("content-type", format === "sse" ? "text/event-stream" : "application/x-ndjson");
    headers.set("cache-control", "no-cache");
    headers.set("x-accel-buffering", "no"); // nginx: pass frames on as they come
    response.writeHead(200, toNodeHeaders(headers));
  };
  const armKeepAlive = (): void => {
    clearTimeout(timer);
    if (keepAliveMs === undefined) return;
    timer = setTimeout(() => {
      commit();
      response.write(": keep-alive\n\n");
      armKeepAlive();
    }, keepAliveMs);
  };
  armKeepAlive();
  return {
    get committed() {
      return committed;
    },
    async send(frame) {
      commit();
      clearTimeout(timer); // no keep-alive comment while a frame waits for the client
      await writeWithBackpressure(response, frame, stallTimeoutMs);
      armKeepAlive();
    },
    end(frame) {
      clearTimeout(timer);
      commit();
      response.end(frame);
    },
    stop: () => clearTimeout(timer),
  };
}

async function* singleMessage(message: Message): AsyncIterable<Message> {
  yield message;
}

function frameMessage(format: StreamFormat, json: JsonValue, id: string | undefined): string {
  const text = JSON.stringify(json);
  if (format === "ndjson") return `${text}\n`;
  return `${id === undefined ? "" : `id: ${id}\n`}data: ${text}\n\n`;
}

/** The app's id for the message; one that would break the SSE framing is left out. */
function eventIdOf(environment: CallEnvironment, call: PreparedCall, message: Message): string | undefined {
  const id = environment.streamEventId?.(call.binding.method, message);
  return id === undefined || /[\r\n\0]/.test(id) ? undefined : id;
}
