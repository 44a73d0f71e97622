/**
 * Request bodies that are answered before they are read (too large, refused early).
 *
 * An HTTP/1.1 server that answers and closes while the client is still sending makes
 * the client's kernel receive a reset, which throws away the answer it had not read
 * yet: the client sees "connection reset" instead of 413 or 429 (measured with a 20 MB
 * POST). Servers avoid it by reading and discarding the rest of the body before
 * answering (nginx's lingering close), within bounds so a client cannot make them read
 * for ever. Two helpers: one discards, one reads a body for a consumer that may stop
 * early without destroying the request (a `for await` over a request destroys it, and
 * with it the socket, when the loop is left early).
 */
import type { IncomingMessage } from "node:http";
import * as http2 from "node:http2";
import type { Http2ServerRequest } from "node:http2";

type NodeRequest = IncomingMessage | Http2ServerRequest;

/** How much of an unwanted body is read before giving up on it. */
export interface DiscardLimits {
  /** Bytes read and dropped at most (default 64 MiB). */
  readonly maxBytes: number;
  /** Time spent at most (default 10 s). */
  readonly timeoutMs: number;
}

const defaultLimits: DiscardLimits = { maxBytes: 64 * 1024 * 1024, timeoutMs: 10_000 };

/**
 * Reads and drops the rest of the body; resolves true when it ended within the limits,
 * false when it did not (the caller should then close the connection after answering).
 */
export function discardRequestBody(request: NodeRequest, limits: DiscardLimits = defaultLimits): Promise<boolean> {
  if (request.complete || request.readableEnded) return Promise.resolve(true);
  if (request.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      request.off("data", onData).off("end", onEnd).off("close", onClose).off("error", onClose);
      if (!ended) request.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > limits.maxBytes) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onClose = (): void => finish(request.complete);
    const timer = setTimeout(() => finish(false), limits.timeoutMs);
    request.on("data", onData).on("end", onEnd).on("close", onClose).on("error", onClose);
    request.resume();
  });
}

/**
 * HTTP/1.1 only: when the answer comes before the body was read, reads and drops the
 * rest first; if it is too long to wait for, the connection is closed after the answer.
 * HTTP/2 needs none of this: its streams are reset one by one, never the connection.
 */
export async function lingerBeforeAnswer(
  request: NodeRequest,
  response: { readonly headersSent: boolean; setHeader(name: string, value: string): unknown },
): Promise<void> {
  if (request.httpVersionMajor !== 1 || request.complete) return;
  const drained = await discardRequestBody(request);
  if (!drained && !response.headersSent) response.setHeader("connection", "close");
}

/**
 * HTTP/2: after an answer to a request whose body was not read to its end, reads and
 * drops the rest (within the same bounds), so the client can finish sending and sees
 * the call end; past the bounds, asks it to stop (RST_STREAM NO_ERROR, RFC 9113 §8.1).
 * Left alone, the stream stayed half open: the client waited for flow-control window
 * that was never given and never saw the end of the call (seen: a gRPC call answered
 * RESOURCE_EXHAUSTED for a 2 GB length prefix while its 1 MB body was being sent).
 * Resetting at once instead would drop the answer's trailers still queued.
 */
export function releaseUnreadRequest(request: NodeRequest, response: object): void {
  if (request.httpVersionMajor !== 2 || request.complete) return;
  void discardRequestBody(request).then((ended) => {
    const stream = (response as { stream?: http2.ServerHttp2Stream }).stream;
    if (!ended && stream !== undefined && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  });
}

/**
 * The body as chunks, for a consumer that may stop early (a size limit): stopping pauses
 * the request instead of destroying it, so the answer can still be written and the rest
 * discarded. A request that fails or closes early ends the iteration with its error.
 */
export async function* requestChunks(request: NodeRequest): AsyncGenerator<Uint8Array> {
  const queue: Buffer[] = [];
  let done = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const onData = (chunk: Buffer): void => {
    queue.push(chunk);
    request.pause();
    notify();
  };
  const onEnd = (): void => {
    done = true;
    notify();
  };
  const onError = (error: Error): void => {
    failure = error;
    notify();
  };
  const onClose = (): void => {
    if (!request.complete)
      failure ??= Object.assign(new Error("the client closed the request before its body ended"), { code: "ECONNRESET" });
    done = true;
    notify();
  };
  request.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk !== undefined) {
        yield chunk;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (done) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
        request.resume();
      });
    }
  } finally {
    request.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
    request.pause();
  }
}
