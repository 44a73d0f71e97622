/**
 * A TCP forwarder in front of test servers, as a layer-4 load balancer is in front of
 * replicas: every new connection goes to the current target, and `retarget` sends the
 * next ones elsewhere while connections already made stay where they are. With it, a
 * client keeps one address while the server behind it drains and another takes over.
 */
import { once } from "node:events";
import net from "node:net";
import { afterAll } from "vitest";

/** A running forwarder. */
export interface TcpForwarder {
  /** `http://127.0.0.1:<port>` of the forwarder. */
  readonly url: string;
  /** New connections go to `port` from now on. */
  retarget(port: number): void;
  close(): Promise<void>;
}

/** Starts a forwarder to `port` on 127.0.0.1; closed after the file. */
export async function startTcpForwarder(port: number): Promise<TcpForwarder> {
  let target = port;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      // A side that fails takes the other with it, as a balancer's connection does.
      socket.on("error", () => (socket === client ? upstream : client).destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const forwarder: TcpForwarder = {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    retarget: (next) => (target = next),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  afterAll(() => forwarder.close());
  return forwarder;
}
