/**
 * Reading REST request bodies: bounded in size (413 before reading when Content-Length
 * already says too much, else as soon as the count passes the limit), JSON only (415
 * otherwise; a body without Content-Type is read as JSON, as vanguard-go does), not
 * compressed (415 for any Content-Encoding but identity), valid UTF-8 (400).
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { httpRefusal, malformedRequest } from "./rest-errors.js";

/** The request shapes Node's HTTP/1.1 and HTTP/2 servers hand to a handler. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/** The whole body as text; "" when there is none. Rejects with 413, 415 or 400. */
export async function readBodyText(request: NodeRequest, maxBytes: number): Promise<string> {
  const encoding = headerValue(request, "content-encoding");
  if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
    throw httpRefusal(Code.InvalidArgument, 415, `Content-Encoding "${encoding}" is not supported; send the body uncompressed`);
  }
  const declared = Number(headerValue(request, "content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = await readAtMost(request, maxBytes);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw malformedRequest("the request body is not valid UTF-8");
  }
}

/** Refuses any body that does not say it is JSON (`application/json`, charset UTF-8 if given). */
export function checkJsonContentType(request: NodeRequest): void {
  const contentType = headerValue(request, "content-type");
  if (contentType === undefined || contentType.trim() === "") return;
  const [mediaType = "", ...parameters] = contentType.split(";").map((part) => part.trim().toLowerCase());
  const charset = parameters
    .find((parameter) => parameter.startsWith("charset="))
    ?.slice("charset=".length)
    .replaceAll('"', "");
  if (mediaType !== "application/json" || (charset !== undefined && charset !== "utf-8")) {
    throw httpRefusal(Code.InvalidArgument, 415, `Content-Type "${contentType}" is not supported; send application/json`);
  }
}

/** A single request header as a string (joined when repeated), or undefined. */
export function headerValue(request: NodeRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function tooLarge(maxBytes: number): Error {
  return httpRefusal(Code.ResourceExhausted, 413, `the request body is larger than ${maxBytes} bytes`);
}

/**
 * Collects the body with listeners rather than `for await`: leaving a `for await` early
 * destroys the request, and with it the socket the 413 must still be written to.
 */
function readAtMost(request: NodeRequest, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      stop();
      reject(tooLarge(maxBytes));
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    // An error of the request stream is its connection failing (the client reset it,
    // "aborted"; Node's request timeout): the client's doing, not an internal error, so it
    // must not be logged as one with a stack (a hostile probe could write such lines at will).
    const onError = (error: Error): void => {
      stop();
      reject(
        error instanceof ConnectError
          ? error
          : new ConnectError(`the request body could not be read: ${error.message}`, Code.Canceled, undefined, undefined, error),
      );
    };
    // Closed before the end: the client went away mid-body.
    const onClose = (): void => onError(new ConnectError("the client closed the request before its body ended", Code.Canceled));
    const stop = (): void => {
      request.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
    };
    request.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}
