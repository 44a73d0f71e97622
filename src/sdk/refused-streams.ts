/**
 * Calls an HTTP/2 server refused (RST_STREAM REFUSED_STREAM), as UNAVAILABLE and resent.
 *
 * A server that drains (GOAWAY, e.g. Runline shutting down for a deploy) refuses the
 * streams its client opened after the GOAWAY left. RFC 9113 §8.7: a refused stream was
 * not processed at all, so resending it is safe for every method, writes included.
 * connect-node (2.2) reports it as INTERNAL: Node emits the stream's 'error'
 * (ERR_HTTP2_STREAM_ERROR, "Stream closed with error code NGHTTP2_REFUSED_STREAM") before
 * its 'close', where connect-node would map the reset code to UNAVAILABLE
 * (node-universal-client.js, node-error.js). Measured: 16 callers looping on a test
 * server as it began to close had 8 to 12 calls refused, each one INTERNAL.
 *
 * `withRefusedStreamRetries` wraps any transport: a refused unary call is resent (a new
 * connection, to another replica behind a balancer), and one still refused after the
 * last attempt, or a refused stream (its request messages may have been consumed, so
 * the caller reopens it), fails UNAVAILABLE.
 */
import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type StreamResponse, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { setTimeout as sleep } from "node:timers/promises";

/** The request headers a transport takes (HeadersInit, which this project's lib settings do not name). */
type RequestHeader = Parameters<Transport["unary"]>[3];

/** Options for `withRefusedStreamRetries`; every field documented with its default. */
export interface RefusedStreamRetryOptions {
  /** Sends of one unary call at most, the first included (default 4; 1: never resend). */
  readonly attempts?: number;
  /** Wait before the first resend, doubled before each next one (default 50 ms: 50, 100, 200). */
  readonly delayMs?: number;
}

/** Whether `error` (or one of its causes) is an HTTP/2 stream the server refused. */
export function isRefusedStream(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let cause = error; cause instanceof Error && !seen.has(cause); cause = cause.cause) {
    seen.add(cause);
    // Node's form, and connect-node's own (connectErrorFromH2ResetCode) when 'close' wins.
    if ((cause as NodeJS.ErrnoException).code === "ERR_HTTP2_STREAM_ERROR" && cause.message.includes("NGHTTP2_REFUSED_STREAM")) return true;
    if (cause instanceof ConnectError && cause.rawMessage.startsWith("http/2 stream closed with error code REFUSED_STREAM")) return true;
  }
  return false;
}

function unavailable(error: unknown): ConnectError {
  return new ConnectError(
    "the server refused the call without processing it (HTTP/2 REFUSED_STREAM: it is shutting down or busy); retry",
    Code.Unavailable,
    undefined,
    undefined,
    error,
  );
}

/** `error` as the caller should see it: UNAVAILABLE when the stream was refused. */
function mapped(error: unknown): unknown {
  return isRefusedStream(error) ? unavailable(error) : error;
}

async function* mappedMessages<T>(messages: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (error) {
    throw mapped(error);
  }
}

/** `transport`, with refused unary calls resent and refusals reported as UNAVAILABLE. */
export function withRefusedStreamRetries(transport: Transport, options: RefusedStreamRetryOptions = {}): Transport {
  const attempts = Math.max(1, options.attempts ?? 4);
  const delayMs = options.delayMs ?? 50;
  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: RequestHeader,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await transport.unary(method, signal, timeoutMs, header, input, contextValues);
        } catch (error) {
          if (!isRefusedStream(error)) throw error;
          if (attempt >= attempts || signal?.aborted === true) throw unavailable(error);
          // An abort ends the wait early; the next send then fails with it.
          await sleep(delayMs * 2 ** (attempt - 1), undefined, { signal }).catch(() => undefined);
        }
      }
    },
    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: RequestHeader,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      try {
        const response = await transport.stream(method, signal, timeoutMs, header, input, contextValues);
        return { ...response, message: mappedMessages(response.message) };
      } catch (error) {
        throw mapped(error);
      }
    },
  };
}
