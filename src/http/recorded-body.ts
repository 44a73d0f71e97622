/**
 * The body of a unary Connect JSON request, kept as it streams past connect-es, so that
 * a body connect-es refuses to decode can be explained field by field (request-gate.ts):
 * connect-es reads, decodes and refuses it before any interceptor runs, and hands on
 * only protobuf-es's first complaint. Only unary JSON bodies that are not compressed
 * are kept (what connect-es decodes is then exactly these bytes), as references to the
 * chunks already read, and only until the request decoded: `release` drops them once
 * the interceptors run, so a long call holds no second copy of its request.
 */
import { createContextKey } from "@connectrpc/connect";
import type { HttpRequest } from "./handler-chain.js";

/** A request body kept while it may still need explaining. */
export interface RecordedBody {
  /** The whole body as UTF-8 text; undefined before it was read to its end, once released, or when it is not UTF-8. */
  text(): string | undefined;
  /** Drops the kept chunks. */
  release(): void;
}

/** Where the RPC adapter leaves a unary Connect JSON request's body for the request gate. */
export const recordedBodyKey = createContextKey<RecordedBody | undefined>(undefined, {
  description: "the body of a unary Connect JSON request, until it decoded",
});

/** True for a Connect unary POST with a JSON body that is sent as is (no Content-Encoding but identity). */
export function isUncompressedUnaryJson(request: HttpRequest): boolean {
  const contentType = request.headers["content-type"] ?? "";
  const encoding = request.headers["content-encoding"] ?? "identity";
  return request.method === "POST" && /^application\/json\s*(;|$)/i.test(contentType) && encoding.toLowerCase() === "identity";
}

/** Passes `chunks` on unchanged, keeping a reference to each until `release`. */
export function recordBody(chunks: AsyncIterable<Uint8Array>): { chunks: AsyncIterable<Uint8Array>; body: RecordedBody } {
  let kept: Uint8Array[] | undefined = [];
  let complete = false;
  async function* passing(): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunks) {
      kept?.push(chunk);
      yield chunk;
    }
    complete = true;
  }
  const body: RecordedBody = {
    text() {
      // A body refused before it was read (by the request gate, or for a bad header) is not what failed.
      if (kept === undefined || !complete) return undefined;
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(kept));
      } catch {
        return undefined;
      }
    },
    release() {
      kept = undefined;
    },
  };
  return { chunks: passing(), body };
}
