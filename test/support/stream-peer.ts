/**
 * A client process that opens long calls and then does nothing, so that tests can kill
 * it (SIGKILL: the kernel sends the FIN) or freeze it (SIGSTOP: no FIN, no answer to
 * anything) while its calls are open. Run as
 *
 *   node --import tsx test/support/stream-peer.ts <baseUrl> <kind> <connections>
 *
 * kinds: `h2-watch` (Node's HTTP/2 client, one grpc.health.v1.Health/Watch per
 * connection), `grpc-js-watch` (the same through @grpc/grpc-js, one channel each), and
 * `h2-reflection` (a ServerReflectionInfo bidi stream per connection, left open after
 * one request, as a tool that stopped mid-session leaves it). It prints `ready` once
 * every call has received its first message.
 */
import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";

const [baseUrl, kind, connectionsArgument] = process.argv.slice(2);
const connections = Number(connectionsArgument);

/** A gRPC length-prefixed message (uncompressed). */
function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** ServerReflectionRequest { list_services: "" } (field 7, length-delimited, empty). */
const listServices = Buffer.from([0x3a, 0x00]);

function openWithHttp2(path: string, request: Buffer, endRequest: boolean): Promise<void> {
  const session = http2.connect(baseUrl!);
  session.on("error", () => {});
  const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
  stream.on("error", () => {});
  stream.write(grpcFrame(request));
  if (endRequest) stream.end();
  return new Promise((resolve, reject) => {
    stream.once("data", () => resolve());
    stream.once("close", () => reject(new Error(`${path} closed before its first message`)));
  });
}

function openWithGrpcJs(): Promise<void> {
  // A local subchannel pool gives every client its own connection.
  const client = new grpc.Client(new URL(baseUrl!).host, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const call = client.makeServerStreamRequest(
    "/grpc.health.v1.Health/Watch",
    (value: Buffer) => value,
    (value: Buffer) => value,
    Buffer.alloc(0),
  );
  call.on("error", () => {});
  return new Promise((resolve) => call.once("data", () => resolve()));
}

function open(): Promise<void> {
  switch (kind) {
    case "h2-watch":
      return openWithHttp2("/grpc.health.v1.Health/Watch", Buffer.alloc(0), true);
    case "h2-reflection":
      return openWithHttp2("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", listServices, false);
    case "grpc-js-watch":
      return openWithGrpcJs();
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

await Promise.all(Array.from({ length: connections }, open));
process.stdout.write("ready\n");
// Stays up, holding every call open, until killed.
setInterval(() => {}, 60_000);
