/**
 * A replica dies under a live stream: three replicas behind a real HAProxy, events being
 * ingested through the balancer, and the replica serving a StreamRunEvents stream is
 * killed with `kill -9` mid-way. The client resumes through the balancer from the last
 * sequence it received (afterSequence over RPC, Last-Event-ID over SSE), lands on another
 * replica, and ends with every sequence exactly once; so too when the replica freezes
 * (SIGSTOP) instead of dying. After each test a new process takes
 * the dead replica's place, as a supervisor would start one.
 */
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { balancerSkipReason, balancerSuiteName, startSuiteCluster } from "../support/balancer-suite.js";
import { clientFor, h2ConnectTransport, json, type TenantFixture } from "../support/clients.js";
import { sleep, within } from "../support/expectations.js";
import { type HaproxyCluster } from "../support/haproxy-cluster.js";
import { followResuming, rpcAttempt, sseAttempt, type StreamAttempt } from "../support/resuming-stream.js";

let cluster: HaproxyCluster | undefined;
let tenant: TenantFixture;
// Registered at the top level: an afterAll registered inside a beforeAll never ran.
afterAll(() => cluster?.stop());

/** Events ingested per test: batches of `batchSize`, a pause between batches, so the kill lands mid-way. */
const batches = 40;
const batchSize = 5;
const pauseMs = 40;
/** The stream's replica is killed once this many sequences have arrived (of 1 + 200 + 1). */
const killAfterSequences = 30;

/** The clients under test, each through the balancer. */
const streamClients: Record<string, (runId: string) => StreamAttempt> = {
  "Connect (binary, h2c)": (runId) => rpcAttempt(createClient(RunsService, h2ConnectTransport(cluster!.url, tenant.key)), runId),
  "Connect (JSON, HTTP/1.1)": (runId) => rpcAttempt(clientFor(RunsService, "connect-json", cluster!.url, tenant.key), runId),
  "gRPC (h2c)": (runId) => rpcAttempt(clientFor(RunsService, "grpc", cluster!.url, tenant.key), runId),
  "gRPC-web (HTTP/1.1)": (runId) => rpcAttempt(clientFor(RunsService, "grpc-web", cluster!.url, tenant.key), runId),
  "REST SSE (HTTP/1.1, Last-Event-ID)": (runId) => sseAttempt(`${cluster!.url}/api/v1/runs/${runId}/events:stream`, tenant.key),
};

/** Calls `call` until it succeeds: a call cut by the kill is retried, as a client would (at most 10 s). */
async function untilStored<T>(call: () => Promise<T>): Promise<{ value: T; failures: number }> {
  const deadline = Date.now() + 10_000;
  for (let failures = 0; ; failures++) {
    try {
      return { value: await call(), failures };
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

/**
 * Ingests the events through the balancer, each with an event id, so a batch retried
 * after the kill (stored or not) is stored once; resolves with the calls that failed.
 */
async function ingestSteadily(runs: Client<typeof RunsService>, runId: string): Promise<number> {
  let failures = 0;
  for (let batch = 0; batch < batches; batch++) {
    const events = Array.from({ length: batchSize }, (_, index) => ({
      type: "progress",
      eventId: `e${batch * batchSize + index}`,
      data: json({ batch, index }),
    }));
    failures += (await untilStored(() => runs.ingestRunEvents({ runId, events }))).failures;
    await sleep(pauseMs);
  }
  return failures;
}

describe.skipIf(balancerSkipReason() !== undefined)(balancerSuiteName("A stream whose replica dies"), () => {
  beforeAll(async () => {
    ({ cluster, tenant } = await startSuiteCluster());
  });

  /** Each client with `kill -9`; one with SIGSTOP too, where only HAProxy's health checks can tell. */
  const cases = [...Object.keys(streamClients).map((client) => ({ client, death: "kill -9" })), { client: "gRPC (h2c)", death: "SIGSTOP" }];

  it.each(cases)(
    "over $client, after $death of its replica, resumes on another with every sequence exactly once",
    async ({ client, death }) => {
      const runs = tenant.runs();
      const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
      const runId = run!.id;
      let killed: string | undefined;
      let killedAt = 0;
      // From the kill to the first message of the resumed stream (over replay or live events).
      let resumedMs: number | undefined;
      onTestFinished(async () => {
        if (killed !== undefined) await cluster!.restartReplica(killed);
      });
      const ingesting = ingestSteadily(runs, runId).then(async (failures) => {
        await untilStored(() => runs.cancelRun({ runId, reason: "the test is over" }));
        return failures;
      });
      const followed = await within(
        30_000,
        "the stream to its end, resumed",
        followResuming(streamClients[client]!(runId), async (sequences, replica) => {
          if (killed !== undefined && resumedMs === undefined && replica !== killed) resumedMs = performance.now() - killedAt;
          if (killed === undefined && sequences.length >= killAfterSequences) {
            killed = replica;
            killedAt = performance.now();
            // A frozen replica keeps its connections: HAProxy marks it down after two
            // failed checks, and on-marked-down shutdown-sessions cuts its streams.
            if (death === "SIGSTOP") cluster!.replicaNamed(replica).freeze();
            else await cluster!.replicaNamed(replica).kill();
          }
        }),
      );
      const ingestFailures = await ingesting;
      const { run: final } = await runs.getRun({ runId });
      const last = Number(final!.lastSequence);

      expect(killed, "a replica was killed mid-stream").toBe(followed.attempts[0]!.replica);
      expect(followed.attempts.length, "the kill cut the stream, and it was resumed").toBeGreaterThanOrEqual(2);
      expect(followed.attempts[0]!.ending).not.toBe("completed");
      const resumedOn = followed.attempts.at(-1)!;
      expect(resumedOn.ending).toBe("completed");
      expect(resumedOn.replica, "resumed on a replica still alive").not.toBe(killed);
      // Generous: measured 0.1–1 s on two busy cores (SIGSTOP waits for two failed checks).
      expect(resumedMs).toBeLessThan(10_000);
      // Every sequence exactly once, in order: nothing lost, nothing repeated.
      expect(last).toBe(1 + batches * batchSize + 1);
      expect(followed.sequences).toEqual(Array.from({ length: last }, (_, index) => index + 1));
      expect(followed.eventIds).toEqual(Array.from({ length: batches * batchSize }, (_, index) => `e${index}`));
      console.log(
        `${client}, ${death}: ${last} sequences; ${killed} lost after ${followed.attempts[0]!.received}, ` +
          `resumed in ${Math.round(resumedMs!)} ms; ` +
          `attempts ${followed.attempts.map((attempt) => `${attempt.replica}:${attempt.ending}`).join(", ")}; ` +
          `${ingestFailures} ingest calls retried`,
      );
    },
    60_000,
  );

  it("fails, naming the cut, when every attempt at the stream is cut", async () => {
    // The resuming client must be able to fail: resuming is bounded, and the last cut is named.
    const failing: StreamAttempt = async function* () {
      yield* [];
      throw new ConnectError("replica gone", Code.Unavailable);
    };
    await expect(followResuming(failing, async () => {}, 3)).rejects.toThrow(/3 attempts.*replica gone/);
  });
});
