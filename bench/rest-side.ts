/**
 * The two clients of the `rest` group, built so they differ in the protocol only: each
 * side speaks HTTP/1.1 through node:http with a keep-alive Agent of its own holding at
 * most one socket per caller, sends no compressed bodies and accepts none (the REST
 * layer never compresses, so Connect's gzip is turned off too), and parses every
 * response in full.
 *
 * - REST: `http.request` to `POST /api/v1/runs` and `GET /api/v1/runs/{id}` with a JSON
 *   body built by `JSON.stringify`, answered by the transcoder (src/http/transcoding/),
 *   which calls the same RPC handlers through an in-process Connect transport.
 * - Connect JSON: connect-node's `createConnectTransport({ httpVersion: "1.1",
 *   useBinaryFormat: false })`, which is `http.request` too, POSTing
 *   `/runline.v1.RunsService/…` with protobuf-es's JSON encoding (GET requests for
 *   side-effect-free methods are off by default, so GetRun is a POST as well).
 */
import http from "node:http";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import type { Operation } from "./load.js";
import { bearer, benchWorkflow, clientOf, createBenchTenant, jsonValue } from "./runline-side.js";

/** One RPC, driven over each protocol. */
export interface ProtocolPair {
  readonly rest: Operation;
  readonly connect: Operation;
}

/** The RPCs the group compares, and a way to close both sides' sockets. */
export interface RestSides {
  readonly getRun: ProtocolPair;
  readonly createRun: ProtocolPair;
  close(): void;
}

/** A keep-alive pool with one socket per caller, the same on both sides. */
function agentFor(callers: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: callers });
}

type RestRequest = (method: "GET" | "POST", path: string, body?: string) => Promise<unknown>;

/** A JSON call over `agent`; anything but 200 is an error carrying the body. */
function restRequester(baseUrl: string, key: string, agent: http.Agent): RestRequest {
  const { hostname, port } = new URL(baseUrl);
  return (method, path, body) =>
    new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${key}`, accept: "application/json" };
      if (body !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = Buffer.byteLength(body);
      }
      const request = http.request({ agent, host: hostname, port, method, path, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (response.statusCode === 200) resolve(JSON.parse(text));
          else reject(new Error(`${method} ${path}: HTTP ${response.statusCode}: ${text.slice(0, 300)}`));
        });
      });
      request.on("error", reject);
      request.end(body);
    });
}

/**
 * Makes the `bench-rest` tenant and one run per caller (what GetRun reads, the same run
 * on both sides), and returns both sides' operations.
 */
export async function connectRestSides(baseUrl: string, rootKey: string, callers: number): Promise<RestSides> {
  const key = await createBenchTenant(baseUrl, rootKey, "bench-rest");
  const setup = clientOf(RunsService, baseUrl, key);
  const runIds: string[] = [];
  for (let caller = 0; caller < callers; caller++)
    runIds.push((await setup.createRun({ workflow: benchWorkflow, input: jsonValue({ n: caller }) })).run!.id);
  const restAgent = agentFor(callers);
  const connectAgent = agentFor(callers);
  const rest = restRequester(baseUrl, key, restAgent);
  const connect = createClient(
    RunsService,
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: false,
      acceptCompression: [],
      nodeOptions: { agent: connectAgent },
      interceptors: [bearer(key)],
    }),
  );
  let created = 0;
  return {
    getRun: {
      rest: async (caller) => {
        await rest("GET", `/api/v1/runs/${runIds[caller]!}`);
        return 1;
      },
      connect: async (caller) => {
        await connect.getRun({ runId: runIds[caller]! });
        return 1;
      },
    },
    createRun: {
      rest: async () => {
        await rest("POST", "/api/v1/runs", JSON.stringify({ workflow: benchWorkflow, input: { n: created++ } }));
        return 1;
      },
      connect: async () => {
        await connect.createRun({ workflow: benchWorkflow, input: jsonValue({ n: created++ }) });
        return 1;
      },
    },
    close() {
      restAgent.destroy();
      connectAgent.destroy();
    },
  };
}
