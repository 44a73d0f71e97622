/**
 * Writes connect's universal response (gRPC, gRPC-web, Connect) to a Node response, as
 * connect-node's universalResponseToNodeResponse does, with one difference that matters
 * for server streams: each chunk's wait for 'drain' also ends when the client leaves or
 * stalls (writeWithBackpressure). connect-node waits for 'drain' or 'error' only, and
 * neither comes when the client goes away mid-wait (an HTTP/2 compatibility response
 * forwards no errors at all): the writer, the handler's generator and its event-hub
 * subscription were then parked for the life of the process, with the chunk they held
 * (bench slow-readers: 40 closed readers left the server at 6.4 GB).
 *
 * The handler's messages are pulled one at a time, each only after the previous one was
 * taken by the transport, so a slow client holds at most about one message per stream.
 */
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { HttpResponse } from "./handler-chain.js";
import { isResponseClosed, toNodeHeaders, writeWithBackpressure } from "./transcoding/index.js";

/** Writes `answer`; rejects when the client left or stalled, after telling the handler (its iterator's throw). */
export async function writeUniversalResponse(
  answer: UniversalServerResponse,
  response: HttpResponse,
  stallTimeoutMs: number,
): Promise<void> {
  const chunks = answer.body?.[Symbol.asyncIterator]();
  let writing = false;
  try {
    if (chunks !== undefined) {
      let chunk = await chunks.next();
      // Headers after the first chunk, as connect-node sends them: the handler may still set some.
      writeHead(answer, response);
      for (; chunk.done !== true; chunk = await chunks.next()) {
        writing = true;
        await writeWithBackpressure(response, chunk.value, stallTimeoutMs);
        writing = false;
      }
    }
    writeHead(answer, response);
    if (answer.trailer !== undefined) response.addTrailers(toNodeHeaders(answer.trailer));
    await endResponse(response);
  } catch (error) {
    // The handler learns why its messages stop (connect-node does the same).
    if (writing) chunks?.throw?.(error).catch(() => undefined);
    throw error;
  } finally {
    chunks?.return?.().catch(() => undefined);
  }
}

function writeHead(answer: UniversalServerResponse, response: HttpResponse): void {
  if (response.headersSent) return;
  response.writeHead(answer.status, answer.header === undefined ? {} : toNodeHeaders(answer.header));
}

/** Resolves when the response is flushed or closed, whichever comes first. */
function endResponse(response: HttpResponse): Promise<void> {
  if (isResponseClosed(response)) return Promise.resolve();
  return new Promise((resolve) => {
    response.once("close", () => resolve());
    response.end(() => resolve());
  });
}
