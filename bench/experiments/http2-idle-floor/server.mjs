import http2 from "node:http2";
import fs from "node:fs";
const mode = process.argv[2] ?? "raw";
const held = [];
const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
if (mode === "raw") {
  server.on("stream", (stream) => { stream.respond({ ":status": 200, "content-type": "application/connect+proto" }); stream.write(Buffer.alloc(40)); held.push(stream); });
} else {
  server.on("request", (req, res) => { res.writeHead(200, { "content-type": "application/connect+proto" }); res.write(Buffer.alloc(40)); held.push(res); });
}
server.listen(0, "127.0.0.1", () => { process.send(server.address().port); });
process.on("message", (m) => { if (m === "rss") { globalThis.gc?.(); globalThis.gc?.(); const mu = process.memoryUsage(); process.send({ rss: mu.rss, heap: mu.heapUsed, ext: mu.external, ab: mu.arrayBuffers, n: held.length }); } });
