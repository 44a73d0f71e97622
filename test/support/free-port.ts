/**
 * A loopback port that nothing listens on now, for a server a test or the bench starts
 * later on a port it must know in advance (a child process, a receiver brought up late).
 * Another process could take it in between; on a test machine that race is theoretical.
 */
import { once } from "node:events";
import * as net from "node:net";

/** Binds port 0 on 127.0.0.1, notes the port the kernel chose, and releases it. */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as net.AddressInfo;
  probe.close();
  await once(probe, "close");
  return port;
}
