/**
 * A draining server refuses the HTTP/2 streams its clients opened after its GOAWAY left
 * (RST_STREAM REFUSED_STREAM). connect-node reports those calls as INTERNAL; the worker
 * SDK's transport reports them as UNAVAILABLE and resends refused unary calls, which the
 * server never processed (src/sdk/refused-streams.ts). Against real servers shutting
 * down while calls are fired in a loop.
 */
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { Health } from "../../gen/health/v1/health_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { createWorkerTransport } from "../../src/sdk/create-worker.js";
import { isRefusedStream, withRefusedStreamRetries } from "../../src/sdk/refused-streams.js";
import { createTenant, h2ConnectTransport, json } from "../support/clients.js";
import { sleep } from "../support/expectations.js";
import { startTcpForwarder } from "../support/tcp-forwarder.js";
import { startTestServer } from "../support/test-server.js";
import { createWorkflowWith, millis, workerClient } from "./worker-fixtures.js";

/** How each call ended: "OK", or the code's name with "(refused)" when the server refused the stream. */
type Outcome = string;

const outcomeOf = (error: unknown): Outcome => `${Code[ConnectError.from(error).code]}${isRefusedStream(error) ? " (refused)" : ""}`;

/**
 * Runs `call` in `loops` loops, each firing the next call as the last ends, until
 * `stopAfter` settles; counts the outcomes.
 */
async function callInLoops(loops: number, call: () => Promise<unknown>, stopAfter: Promise<unknown>): Promise<Map<Outcome, number>> {
  const outcomes = new Map<Outcome, number>();
  const count = (outcome: Outcome) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  let stopped = false;
  void stopAfter.finally(() => (stopped = true));
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (!stopped) {
        await call().then(
          () => count("OK"),
          (error: unknown) => count(outcomeOf(error)),
        );
        await sleep(1);
      }
    }),
  );
  return outcomes;
}

/** A Health client and a Watch that reads one message and leaves: a unary and a streaming call. */
function healthCalls(transport: Transport): () => Promise<unknown> {
  const health = createClient(Health, transport);
  let turn = 0;
  return async () => {
    if (turn++ % 2 === 0) return health.check({});
    for await (const status of health.watch({})) return status;
    return undefined;
  };
}

describe("a call refused by a draining server", () => {
  const transports = {
    "Connect binary over HTTP/2": (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
    gRPC: (baseUrl: string) => createGrpcTransport({ baseUrl }),
  };
  for (const [name, transportTo] of Object.entries(transports)) {
    it(`is UNAVAILABLE through the SDK's transport, never INTERNAL (${name})`, { timeout: 30_000 }, async () => {
      const server = await startTestServer();
      // Resends off, to see what the caller of one send gets.
      const calls = healthCalls(withRefusedStreamRetries(transportTo(server.url), { attempts: 1 }));
      await calls();
      const closing = sleep(200).then(() => server.close());
      const outcomes = await callInLoops(
        16,
        calls,
        closing.then(() => sleep(200)),
      );
      console.info(`${name}, drain: ${JSON.stringify(Object.fromEntries(outcomes))}`);
      expect(outcomes.get("Unavailable (refused)") ?? 0, "refusals seen (the drain must refuse some)").toBeGreaterThan(0);
      expect([...outcomes.keys()].filter((outcome) => outcome.includes("refused") && outcome !== "Unavailable (refused)")).toEqual([]);
      expect(outcomes.get("Internal") ?? 0).toBe(0);
    });
  }
});

describe("the SDK's unary calls across a drain behind a balancer", () => {
  // A drain refuses streams only when a call opens one in the moment between GOAWAY and
  // the switch-over; on a busy machine a run can miss it, so the drain is tried up to
  // three times (each with two fresh servers) until it has refused some.
  async function callAcrossDrain(): Promise<{ refused: number; outcomes: Map<string, number> }> {
    const draining = await startTestServer();
    const successor = await startTestServer(draining.databaseUrl);
    const balancer = await startTcpForwarder(draining.port);
    const tenant = await createTenant(draining.url);
    await createWorkflowWith(tenant, "w");
    await tenant.runs().createRun({ workflow: "w", input: json({ n: 1 }) });
    const [lease] = (await workerClient(tenant, draining.url).claimRuns({ workerId: "w", workflows: ["w"], leaseDuration: millis(60_000) }))
      .leases;

    // The SDK's transport over a connect-node one that counts the refusals it absorbs.
    let refused = 0;
    const inner = h2ConnectTransport(
      balancer.url,
      tenant.key,
      (next) => (request) =>
        next(request).catch((error: unknown) => {
          if (isRefusedStream(error)) refused++;
          throw error;
        }),
    );
    const transport = createWorkerTransport({ server: balancer.url, apiKey: tenant.key, transport: inner });
    const workers = createClient(WorkerService, transport);
    const health = createClient(Health, transport);
    // Heartbeats (what a worker sends), and health checks: answered from memory, they
    // open streams fast enough for the drain to refuse some (a heartbeat takes ~50 ms here).
    let turn = 0;
    const call = () => (turn++ % 4 === 0 ? workers.heartbeat({ runId: lease!.run!.id, leaseId: lease!.leaseId }) : health.check({}));
    await call();

    const closing = sleep(200).then(() => {
      balancer.retarget(successor.port);
      return draining.close();
    });
    const outcomes = await callInLoops(
      16,
      call,
      closing.then(() => sleep(300)),
    );
    console.info(`calls across the drain: ${JSON.stringify(Object.fromEntries(outcomes))}, ${refused} refused and resent`);
    return { refused, outcomes };
  }

  it("are resent to the server that takes over: every call succeeds", { timeout: 90_000 }, async (context) => {
    let refused = 0;
    for (let drain = 0; drain < 3 && refused === 0; drain++) {
      const result = await callAcrossDrain();
      expect([...result.outcomes.keys()]).toEqual(["OK"]);
      refused = result.refused;
    }
    // Every call succeeded either way; without a refusal the resending was not exercised,
    // which the run reports as a skip rather than a pass (seen in a CI run: 3 × 0).
    if (refused === 0) context.skip("the drains refused no stream on this machine, so nothing was resent");
  });
});
