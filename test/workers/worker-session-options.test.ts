/**
 * The SDK's default transport turns Nagle's algorithm off on its h2c socket (Node's
 * HTTP/2 client leaves it on, which held small frames back for the peer's delayed
 * acknowledgement); TLS URLs keep Node's own connection.
 */
import net from "node:net";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerSessionOptions } from "../../src/sdk/create-worker.js";

/** Node's record of setNoDelay on a socket (an internal symbol, stable since Node 18). */
function noDelayOf(socket: net.Socket): unknown {
  const symbol = Object.getOwnPropertySymbols(socket).find((candidate) => candidate.description === "kSetNoDelay");
  return symbol === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[symbol];
}

describe("workerSessionOptions", () => {
  const server = net.createServer((socket) => socket.end());
  let port = 0;
  beforeAll(async () => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("connects h2c to the URL's host and port with Nagle's algorithm off", async () => {
    const socket = workerSessionOptions(`http://127.0.0.1:${port}`).createConnection!();
    await once(socket, "connect");
    expect(socket.remotePort).toBe(port);
    expect(noDelayOf(socket)).toBe(true);
    socket.destroy();
    // Node's own default, for comparison: off unless asked.
    const plain = net.connect({ host: "127.0.0.1", port });
    await once(plain, "connect");
    expect(noDelayOf(plain)).toBe(false);
    plain.destroy();
  });

  it("leaves TLS connections to Node", () => {
    expect(workerSessionOptions("https://runline.example.com")).toEqual({});
  });
});
