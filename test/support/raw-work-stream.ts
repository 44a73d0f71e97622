/**
 * A WorkerService.Work call over Node's own HTTP/2 client and gRPC framing, for an
 * executor no SDK would be: one that keeps sending and never reads. It writes as a
 * well-behaved HTTP/2 client does (after `write()` returns false it waits for 'drain'),
 * so when the server stops reading, its writes stop draining: that is what the test
 * observes. The response is not read until `readToEnd()`.
 */
import http2 from "node:http2";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { WorkRequestSchema, WorkResponseSchema, type WorkResponse } from "../../gen/runline/v1/worker_service_pb.js";

/** What `writeUntilStalled` got through. */
export interface WriteProgress {
  /** Messages whose write was accepted (the last one may still sit in the client's buffer). */
  readonly messages: number;
  /** Their framed bytes. */
  readonly bytes: number;
  /** Whether writing stopped because no 'drain' came within the wait (rather than running out of messages). */
  readonly stalled: boolean;
}

/** How the call ended, once read to its end. */
export interface WorkStreamEnd {
  readonly responses: WorkResponse[];
  /** `grpc-status` of the trailers (undefined when there were none: a reset). */
  readonly grpcStatus: string | undefined;
  /** The HTTP/2 reset code (0 when the stream closed normally). */
  readonly rstCode: number;
}

/** An open Work call that has not read anything yet. */
export interface RawWorkStream {
  /** Writes `messages` one by one until one is not drained within `stallMs`; resolves with what got through. */
  writeUntilStalled(messages: Iterable<MessageInitShape<typeof WorkRequestSchema>>, stallMs: number): Promise<WriteProgress>;
  /** Bytes the client's socket has handed to the kernel so far. */
  socketBytesWritten(): number;
  /** Whether the stream has closed (reset or ended). */
  closed(): boolean;
  /** Half-closes, reads every response and the trailers; resolves when the stream has closed. */
  readToEnd(): Promise<WorkStreamEnd>;
  close(): void;
}

/** One gRPC message: flags (0), big-endian length, the message. */
function frame(message: MessageInitShape<typeof WorkRequestSchema>): Buffer {
  const bytes = toBinary(WorkRequestSchema, create(WorkRequestSchema, message));
  const framed = Buffer.alloc(5 + bytes.length);
  framed.writeUInt32BE(bytes.length, 1);
  framed.set(bytes, 5);
  return framed;
}

/** Opens a Work call as `key` and sends `open` as its first message. */
export function openRawWorkStream(baseUrl: string, key: string, open: MessageInitShape<typeof WorkRequestSchema>): RawWorkStream {
  const session = http2.connect(baseUrl);
  session.on("error", () => undefined); // a reset is an outcome the test inspects
  const stream = session.request({
    ":method": "POST",
    ":path": "/runline.v1.WorkerService/Work",
    "content-type": "application/grpc+proto",
    te: "trailers",
    authorization: `Bearer ${key}`,
  });
  stream.on("error", () => undefined);
  let grpcStatus: string | undefined;
  stream.on("trailers", (trailers) => (grpcStatus = trailers["grpc-status"] as string | undefined));
  // Not events.once: it rejects when 'error' comes first, and a reset is an outcome here.
  const closing = new Promise<void>((resolve) => stream.once("close", resolve));
  stream.write(frame(open));
  return {
    async writeUntilStalled(messages, stallMs) {
      let count = 0;
      let bytes = 0;
      for (const message of messages) {
        const framed = frame(message);
        count++;
        bytes += framed.length;
        if (stream.write(framed)) continue;
        let onDrain: () => void = () => undefined;
        const drained = await Promise.race([
          new Promise<boolean>((resolve) => stream.once("drain", (onDrain = () => resolve(true)))),
          new Promise<boolean>((resolve) => setTimeout(resolve, stallMs, false)),
          closing.then(() => false),
        ]);
        stream.off("drain", onDrain);
        if (!drained) return { messages: count, bytes, stalled: !stream.closed };
      }
      return { messages: count, bytes, stalled: false };
    },
    socketBytesWritten: () => session.socket.bytesWritten,
    closed: () => stream.closed,
    async readToEnd() {
      const responses: WorkResponse[] = [];
      let buffered = Buffer.alloc(0);
      stream.on("data", (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
          const length = buffered.readUInt32BE(1);
          responses.push(fromBinary(WorkResponseSchema, buffered.subarray(5, 5 + length)));
          buffered = buffered.subarray(5 + length);
        }
      });
      if (!stream.closed) stream.end();
      await closing;
      session.close();
      return { responses, grpcStatus, rstCode: stream.rstCode ?? 0 };
    },
    close() {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
    },
  };
}
