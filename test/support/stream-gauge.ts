/**
 * The server's own count of open server streams (`runline_active_streams` at /metrics),
 * which falls only when a handler's stream has really ended: the server-side proof that
 * a call whose client vanished was noticed.
 */
import * as http from "node:http";
import { eventually } from "./expectations.js";

/** Open streams of `procedure` (e.g. "/grpc.health.v1.Health/Watch"), scraped on a connection that closes after. */
export function activeStreams(url: string, procedure: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/metrics`, { agent: false, headers: { connection: "close" } }, (response) => {
        let text = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        response.on("end", () => {
          const line = text.split("\n").find((candidate) => candidate.startsWith(`runline_active_streams{procedure="${procedure}"}`));
          resolve(line === undefined ? 0 : Number(line.split(" ").pop()));
        });
      })
      .on("error", reject);
  });
}

/** Waits until `procedure` has `count` open streams on the server; returns how long that took, in ms. */
export async function streamsReach(url: string, procedure: string, count: number, ms: number): Promise<number> {
  const started = performance.now();
  let seen = -1;
  await eventually(
    ms,
    `${procedure} at ${count} open streams`,
    async () => ((seen = await activeStreams(url, procedure)) === count ? true : undefined),
    20,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)} (last seen ${seen})`);
  });
  return performance.now() - started;
}
