/**
 * HTTP/2 written by hand on a raw TCP socket (RFC 9113), for peers no library would
 * imitate: one that half-closes after the preface, ignores SETTINGS, or opens more
 * streams than the server allows. Header blocks use HPACK literals only (no Huffman, no
 * table), which every decoder must accept.
 */
import { once } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";

/** Frame types used here (RFC 9113 §6). */
export const FrameType = { data: 0, headers: 1, rstStream: 3, settings: 4, ping: 6, goaway: 7 } as const;

/** Flags: END_STREAM (DATA, HEADERS), ACK (SETTINGS, PING), END_HEADERS. */
export const FrameFlag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4 } as const;

/** One decoded frame. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** What a client sends first: the preface and an empty SETTINGS frame. */
export const clientPreface = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), frame(FrameType.settings, 0, 0)]);

/** Encodes one frame. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK "literal header field without indexing, new name" (names and values < 127 bytes). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x00, name.length]),
    Buffer.from(name, "latin1"),
    Buffer.from([value.length]),
    Buffer.from(value, "latin1"),
  ]);
}

/** HEADERS + DATA frames of a gRPC call to `path` with an empty request message, request side ended. */
export function grpcCall(streamId: number, path: string, endRequest = true): Buffer {
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http (HPACK static table entries 3 and 6)
    literal(":path", path),
    literal(":authority", "localhost"),
    literal("content-type", "application/grpc"),
    literal("te", "trailers"),
  ]);
  const emptyMessage = Buffer.alloc(5); // uncompressed, length 0
  return Buffer.concat([
    frame(FrameType.headers, FrameFlag.endHeaders, streamId, block),
    frame(FrameType.data, endRequest ? FrameFlag.endStream : 0, streamId, emptyMessage),
  ]);
}

/** A raw client socket and the frames the server sent it so far. */
export interface RawH2 {
  readonly socket: net.Socket;
  readonly frames: Frame[];
  /** Resolves with the first received frame (already or later) that `match` accepts. */
  next(match: (frame: Frame) => boolean): Promise<Frame>;
}

/**
 * Connects to `port` (over TLS with ALPN h2 when `tls` is set) and sends the preface.
 * The socket is allowHalfOpen, so it can send its FIN and still read. SETTINGS are
 * acknowledged unless `ackSettings` is false; PINGs are never answered.
 */
export async function connectRawH2(port: number, options: { ackSettings?: boolean; tls?: boolean } = {}): Promise<RawH2> {
  const address = { port, host: "127.0.0.1", allowHalfOpen: true, noDelay: true };
  const socket =
    options.tls === true ? tls.connect({ ...address, ALPNProtocols: ["h2"], rejectUnauthorized: false }) : net.connect(address);
  await once(socket, options.tls === true ? "secureConnect" : "connect");
  socket.on("error", () => {});
  const frames: Frame[] = [];
  const waiting = new Set<() => void>();
  let buffered = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const received = {
        type: buffered[3]!,
        flags: buffered[4]!,
        streamId: buffered.readUInt32BE(5) & 0x7fffffff,
        payload: buffered.subarray(9, 9 + length),
      };
      buffered = buffered.subarray(9 + length);
      frames.push(received);
      const isSettings = received.type === FrameType.settings && (received.flags & FrameFlag.ack) === 0;
      if (isSettings && options.ackSettings !== false && socket.writable) socket.write(frame(FrameType.settings, FrameFlag.ack, 0));
    }
    for (const wake of waiting) wake();
  });
  socket.write(clientPreface);
  const next = (match: (frame: Frame) => boolean) =>
    new Promise<Frame>((resolve, reject) => {
      const check = () => {
        const found = frames.find(match);
        if (found !== undefined) {
          waiting.delete(check);
          resolve(found);
        } else if (socket.destroyed || socket.readableEnded) {
          waiting.delete(check);
          reject(new Error(`connection ended without the awaited frame; got types ${frames.map((f) => f.type).join(",")}`));
        }
      };
      waiting.add(check);
      socket.once("end", check).once("close", check);
      check();
    });
  return { socket, frames, next };
}
