/**
 * WorkerService.Work, the executor's two-way session: leases pushed (never more than
 * `max_runs` unfinished), outcomes (`complete`, `fail`) answered one by one on the same
 * stream, stale leases refused without ending the session, bad sessions refused, and the
 * half-close that answers what is pending and ends the stream. Also CompleteRun's shared
 * statements under concurrency (one stale call must not spoil the others), Work over
 * gRPC, and the SDK that runs on a Work session. Every test has a tenant of its own.
 */
import type { JsonValue, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import {
  WorkerService,
  type Lease,
  type StreamAssignmentsRequestSchema,
  type WorkOutcome,
  type WorkRequestSchema,
  type WorkResponse,
} from "../../gen/runline/v1/worker_service_pb.js";
import { createWorker, type Job } from "../../src/sdk/create-worker.js";
import { bearer, createTenant, h2ConnectTransport, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { codeOf } from "../support/expectations.js";
import { createWorkflowWith, eventually, plain, reasonOf, sleep, within, workerClient, type DefaultsInMillis } from "./worker-fixtures.js";

let baseUrl: string;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
});

type WorkRequestInit = MessageInitShape<typeof WorkRequestSchema>;
type OpenInit = MessageInitShape<typeof StreamAssignmentsRequestSchema>;

/** An HTTP/2 transport (Connect binary over h2c, or gRPC), as a Work session needs. */
function h2Transport(tenant: TenantFixture, protocol: "connect" | "grpc" = "connect"): Transport {
  return protocol === "grpc"
    ? createGrpcTransport({ baseUrl, interceptors: [bearer(tenant.key)] })
    : h2ConnectTransport(baseUrl, tenant.key);
}

/** The request half of a session: a queue the call reads with for-await. */
class RequestQueue implements AsyncIterable<WorkRequestInit> {
  private readonly items: WorkRequestInit[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(item: WorkRequestInit): void {
    if (this.ended) throw new Error("request stream already ended");
    this.items.push(item);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WorkRequestInit> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift()!;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/** One Work call seen from the executor: what it sent and received, and how it ended. */
interface Session {
  /** Every response, in order. */
  readonly responses: WorkResponse[];
  /** Every lease pushed, in order. */
  readonly leases: Lease[];
  /** Every outcome answered, in order. */
  readonly outcomes: WorkOutcome[];
  send(message: WorkRequestInit): void;
  complete(lease: Lease, output?: JsonValue): void;
  /** Closes the request side (half-close). */
  end(): void;
  /** Cancels the call. */
  abort(): void;
  /** Undefined when the response stream ended normally, else its error. */
  readonly closed: Promise<ConnectError | undefined>;
  /** Waits until at least `count` leases were pushed; returns them all. */
  leasesAtLeast(count: number, ms?: number): Promise<Lease[]>;
  /** Waits for the `nth` (1-based) outcome naming `runId`. */
  outcomeFor(runId: string, nth?: number, ms?: number): Promise<WorkOutcome>;
}

const sessions: Session[] = [];

afterEach(async () => {
  for (const session of sessions.splice(0)) {
    session.abort();
    await within(5000, "session closing after the test", session.closed);
  }
});

/**
 * Starts a Work call whose first messages are `first` (normally one `open`). Responses
 * are collected in the background; `onResponse` sees each as it arrives.
 */
function startSession(
  transport: Transport,
  first: WorkRequestInit[],
  onResponse?: (response: WorkResponse, session: Session) => void,
): Session {
  const requests = new RequestQueue();
  for (const message of first) requests.push(message);
  const cancel = new AbortController();
  const responses: WorkResponse[] = [];
  const leases: Lease[] = [];
  const outcomes: WorkOutcome[] = [];
  const client = createClient(WorkerService, transport);
  // Responses are read in the background; onResponse runs only after `session` is set.
  const self: { session?: Session } = {};
  const closed = (async () => {
    try {
      for await (const response of client.work(requests, { signal: AbortSignal.any([cancel.signal, AbortSignal.timeout(25_000)]) })) {
        responses.push(response);
        if (response.kind.case === "assigned") leases.push(...response.kind.value.leases);
        else if (response.kind.case === "outcome") outcomes.push(response.kind.value);
        onResponse?.(response, self.session!);
      }
      return undefined;
    } catch (error) {
      return ConnectError.from(error);
    } finally {
      requests.end();
    }
  })();
  const session: Session = {
    responses,
    leases,
    outcomes,
    closed,
    send: (message) => requests.push(message),
    complete: (lease, output = null) =>
      requests.push({ kind: { case: "complete", value: { runId: lease.run!.id, leaseId: lease.leaseId, output: json(output) } } }),
    end: () => requests.end(),
    abort: () => cancel.abort(),
    leasesAtLeast: (count, ms = 5000) =>
      eventually(ms, `${count} leases pushed (have ${leases.length})`, async () => (leases.length >= count ? [...leases] : undefined), 10),
    outcomeFor: (runId, nth = 1, ms = 5000) =>
      eventually(ms, `outcome #${nth} for run ${runId}`, async () => outcomes.filter((outcome) => outcome.runId === runId)[nth - 1], 10),
  };
  self.session = session;
  sessions.push(session);
  return session;
}

const open = (value: OpenInit): WorkRequestInit => ({ kind: { case: "open", value } });

/** Opens a session with `open` as its first message. */
function openSession(transport: Transport, request: OpenInit, onResponse?: (response: WorkResponse, session: Session) => void): Session {
  return startSession(transport, [open(request)], onResponse);
}

/** A fresh tenant with one workflow `slug` taking `{ n }`. */
async function tenantWith(slug: string, defaults: DefaultsInMillis = {}): Promise<TenantFixture> {
  const tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, slug, defaults);
  return tenant;
}

/** Queues runs of `workflow` with inputs `{ n }` for n in 1..count; returns their ids in order. */
async function queueRuns(tenant: TenantFixture, workflow: string, count: number): Promise<string[]> {
  const { runs } = await tenant
    .runs()
    .batchCreateRuns({ template: { workflow }, inputs: Array.from({ length: count }, (_, index) => json({ n: index + 1 })) });
  expect(runs).toHaveLength(count);
  return runs.map((run) => run.id);
}

async function statusOf(tenant: TenantFixture, runId: string): Promise<RunStatus> {
  return (await tenant.runs().getRun({ runId })).run!.status;
}

async function statusesOf(tenant: TenantFixture, runIds: readonly string[]): Promise<Map<string, RunStatus>> {
  const runs = tenant.runs();
  return new Map(await Promise.all(runIds.map(async (runId) => [runId, (await runs.getRun({ runId })).run!.status] as const)));
}

async function resultOf(tenant: TenantFixture, runId: string): Promise<JsonValue | undefined> {
  const { output } = await tenant.runs().getRunOutput({ runId });
  expect(output!.outcome.case).toBe("result");
  return output!.outcome.case === "result" ? plain(output!.outcome.value) : undefined;
}

const inputN = (lease: Lease) => (plain(lease.run!.input) as { n: number }).n;

describe("Work session", () => {
  it("pushes at most max_runs leases, answers a completion with its outcome, then pushes one more", { timeout: 15_000 }, async () => {
    const tenant = await tenantWith("pair");
    const created = await queueRuns(tenant, "pair", 5);
    const session = openSession(h2Transport(tenant), { workerId: "pair-worker", workflows: ["pair"], maxRuns: 2 });

    const first = await session.leasesAtLeast(2);
    // Neither finishes: no third lease, however long we wait.
    await sleep(1000);
    expect(session.leases).toHaveLength(2);
    expect(session.outcomes).toEqual([]);
    expect(new Set(first.map((lease) => lease.run!.id)).size).toBe(2);
    expect(new Set(first.map((lease) => lease.leaseId)).size).toBe(2);
    for (const lease of first) {
      expect(created).toContain(lease.run!.id);
      expect(lease.run!.status).toBe(RunStatus.RUNNING);
      expect(lease.run!.attempt).toBe(1);
      expect(lease.leaseId).toMatch(/^[0-9a-f-]{36}$/i);
      expect(lease.leaseExpireTime).toBeDefined();
    }
    const before = await statusesOf(tenant, created);
    expect([...before.values()].filter((status) => status === RunStatus.RUNNING)).toHaveLength(2);
    expect([...before.values()].filter((status) => status === RunStatus.QUEUED)).toHaveLength(3);

    const done = first[0]!;
    const output = { doubled: inputN(done) * 2, note: "from a work session" };
    session.complete(done, output);
    const outcome = await session.outcomeFor(done.run!.id);
    expect(outcome.status).toBe(RunStatus.SUCCEEDED);
    expect(outcome.error).toBeUndefined();

    await session.leasesAtLeast(3);
    await sleep(500);
    expect(session.leases).toHaveLength(3);
    expect(session.outcomes).toHaveLength(1);
    const third = session.leases[2]!;
    expect(first.map((lease) => lease.run!.id)).not.toContain(third.run!.id);
    expect(created).toContain(third.run!.id);
    expect(third.run!.status).toBe(RunStatus.RUNNING);

    const { run } = await tenant.runs().getRun({ runId: done.run!.id });
    expect(run!.status).toBe(RunStatus.SUCCEEDED);
    expect(run!.endTime).toBeDefined();
    expect(await resultOf(tenant, done.run!.id)).toEqual(output);

    session.end();
    expect(await within(5000, "session end", session.closed)).toBeUndefined();
  });

  it(
    "answers a stale lease with failed_precondition / LEASE_NOT_CURRENT, changes nothing, and keeps the session working",
    { timeout: 15_000 },
    async () => {
      const tenant = await tenantWith("stale");
      const created = await queueRuns(tenant, "stale", 2);
      const session = openSession(h2Transport(tenant), { workerId: "stale-worker", workflows: ["stale"], maxRuns: 1 });
      const [lease] = await session.leasesAtLeast(1);
      const runId = lease!.run!.id;

      // A lease id that was never handed out.
      session.send({ kind: { case: "complete", value: { runId, leaseId: crypto.randomUUID(), output: json("forged") } } });
      const forged = await session.outcomeFor(runId, 1);
      expect(forged.status).toBe(RunStatus.UNSPECIFIED);
      expect(forged.error).toBeDefined();
      expect(forged.error!.code).toBe("failed_precondition");
      expect(forged.error!.reason).toBe("LEASE_NOT_CURRENT");
      expect(forged.error!.message).toMatch(/lease is not current/);
      const { run: untouched } = await tenant.runs().getRun({ runId });
      expect(untouched!.status).toBe(RunStatus.RUNNING);
      expect(untouched!.attempt).toBe(1);
      expect(untouched!.endTime).toBeUndefined();
      // A forged `fail` is refused the same way.
      session.send({
        kind: { case: "fail", value: { runId, leaseId: crypto.randomUUID(), error: { message: "forged", code: "X" }, retryable: false } },
      });
      const forgedFail = await session.outcomeFor(runId, 2);
      expect([forgedFail.error?.code, forgedFail.error?.reason]).toEqual(["failed_precondition", "LEASE_NOT_CURRENT"]);
      expect(await statusOf(tenant, runId)).toBe(RunStatus.RUNNING);

      // The real lease still works.
      session.complete(lease!, { ok: 1 });
      expect((await session.outcomeFor(runId, 3)).status).toBe(RunStatus.SUCCEEDED);
      // The same lease again, now that the run is finished: stale.
      session.complete(lease!, { ok: 2 });
      const again = await session.outcomeFor(runId, 4);
      expect([again.status, again.error?.code, again.error?.reason]).toEqual([
        RunStatus.UNSPECIFIED,
        "failed_precondition",
        "LEASE_NOT_CURRENT",
      ]);
      expect(await statusOf(tenant, runId)).toBe(RunStatus.SUCCEEDED);
      expect(await resultOf(tenant, runId)).toEqual({ ok: 1 });

      // The session is still open: the other run is pushed and completes.
      const [, next] = await session.leasesAtLeast(2);
      expect(next!.run!.id).toBe(created.find((id) => id !== runId));
      session.complete(next!, "second");
      expect((await session.outcomeFor(next!.run!.id)).status).toBe(RunStatus.SUCCEEDED);
      expect(await resultOf(tenant, next!.run!.id)).toBe("second");

      session.end();
      expect(await within(5000, "session end", session.closed)).toBeUndefined();
    },
  );

  it("keeps max_runs when a completion of a held run is refused (wrong lease): no replacement is pushed", { timeout: 15_000 }, async () => {
    const tenant = await tenantWith("refused-slot");
    const created = await queueRuns(tenant, "refused-slot", 3);
    const session = openSession(h2Transport(tenant), { workerId: "refused-slot", workflows: ["refused-slot"], maxRuns: 1 });
    const [lease] = await session.leasesAtLeast(1);
    session.send({ kind: { case: "complete", value: { runId: lease!.run!.id, leaseId: crypto.randomUUID(), output: json("forged") } } });
    expect((await session.outcomeFor(lease!.run!.id)).error?.reason).toBe("LEASE_NOT_CURRENT");
    // The run is still RUNNING under this session's lease: its slot is not free.
    expect(await statusOf(tenant, lease!.run!.id)).toBe(RunStatus.RUNNING);
    await sleep(500);
    const running = [...(await statusesOf(tenant, created)).entries()]
      .filter(([, status]) => status === RunStatus.RUNNING)
      .map(([runId]) => runId);
    expect(running, "runs RUNNING for a max_runs 1 session").toEqual([lease!.run!.id]);
    expect(session.leases.map((pushed) => pushed.run!.id)).toEqual([lease!.run!.id]);
  });

  it(
    "keeps max_runs when the same completion is sent twice: one outcome SUCCEEDED, one refused, exactly one replacement",
    { timeout: 15_000 },
    async () => {
      const tenant = await tenantWith("twice-done");
      const created = await queueRuns(tenant, "twice-done", 3);
      const session = openSession(h2Transport(tenant), { workerId: "twice-done", workflows: ["twice-done"], maxRuns: 1 });
      const [lease] = await session.leasesAtLeast(1);
      session.complete(lease!, "once");
      session.complete(lease!, "twice");
      const outcomes = [await session.outcomeFor(lease!.run!.id, 1), await session.outcomeFor(lease!.run!.id, 2)];
      expect(outcomes.filter((outcome) => outcome.status === RunStatus.SUCCEEDED)).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.error?.reason === "LEASE_NOT_CURRENT")).toHaveLength(1);
      await session.leasesAtLeast(2);
      await sleep(500);
      const running = [...(await statusesOf(tenant, created)).values()].filter((status) => status === RunStatus.RUNNING);
      expect(running, "runs RUNNING for a max_runs 1 session").toHaveLength(1);
      expect(session.leases).toHaveLength(2);
      const statuses = await statusesOf(
        tenant,
        session.leases.map((pushed) => pushed.run!.id),
      );
      expect([...statuses.values()]).toEqual([RunStatus.SUCCEEDED, RunStatus.RUNNING]);
    },
  );

  it(
    "answers `fail`: QUEUED for a retryable failure with attempts left, FAILED otherwise, invalid_argument without a message",
    { timeout: 15_000 },
    async () => {
      // A long backoff keeps the retried run out of the session's reach.
      const tenant = await tenantWith("fragile", { maxAttempts: 3, backoffMs: 60_000 });
      const [retried, permanent, invalid] = await queueRuns(tenant, "fragile", 3);
      const lastAttempt = (await tenant.runs().createRun({ workflow: "fragile", input: json({ n: 4 }), maxAttempts: 1 })).run!.id;
      const session = openSession(h2Transport(tenant), { workerId: "fragile-worker", workflows: ["fragile"], maxRuns: 4 });
      const leases = await session.leasesAtLeast(4);
      const leaseOf = (runId: string) => leases.find((lease) => lease.run!.id === runId)!;
      expect(new Set(leases.map((lease) => lease.run!.id))).toEqual(new Set([retried, permanent, invalid, lastAttempt]));

      const fail = (runId: string, retryable: boolean, message = "boom") =>
        session.send({
          kind: { case: "fail", value: { runId, leaseId: leaseOf(runId).leaseId, error: { message, code: "BOOM" }, retryable } },
        });
      fail(retried!, true);
      fail(permanent!, false);
      fail(invalid!, true, "");
      fail(lastAttempt, true);

      const retriedOutcome = await session.outcomeFor(retried!);
      expect([retriedOutcome.status, retriedOutcome.error]).toEqual([RunStatus.QUEUED, undefined]);
      const permanentOutcome = await session.outcomeFor(permanent!);
      expect([permanentOutcome.status, permanentOutcome.error]).toEqual([RunStatus.FAILED, undefined]);
      const lastOutcome = await session.outcomeFor(lastAttempt);
      expect([lastOutcome.status, lastOutcome.error]).toEqual([RunStatus.FAILED, undefined]);
      const invalidOutcome = await session.outcomeFor(invalid!);
      expect(invalidOutcome.status).toBe(RunStatus.UNSPECIFIED);
      expect(invalidOutcome.error?.code).toBe("invalid_argument");

      const runs = tenant.runs();
      const retriedRun = (await runs.getRun({ runId: retried! })).run!;
      expect([retriedRun.status, retriedRun.attempt]).toEqual([RunStatus.QUEUED, 1]);
      expect(await statusOf(tenant, permanent!)).toBe(RunStatus.FAILED);
      expect(await statusOf(tenant, lastAttempt)).toBe(RunStatus.FAILED);
      expect(await statusOf(tenant, invalid!)).toBe(RunStatus.RUNNING);
      const { output } = await runs.getRunOutput({ runId: permanent! });
      expect(output!.outcome.case === "error" && [output!.outcome.value.code, output!.outcome.value.message]).toEqual(["BOOM", "boom"]);

      session.end();
      expect(await within(5000, "session end", session.closed)).toBeUndefined();
      // Nothing more was pushed: the retry waits out its backoff.
      expect(session.leases).toHaveLength(4);
    },
  );

  it("refuses a session that does not start with `open` with INVALID_ARGUMENT", async () => {
    const tenant = await tenantWith("strict");
    const [runId] = await queueRuns(tenant, "strict", 1);
    const transport = h2Transport(tenant);
    const firsts: WorkRequestInit[][] = [
      [{ kind: { case: "complete", value: { runId, leaseId: crypto.randomUUID() } } }],
      [{ kind: { case: "fail", value: { runId, leaseId: crypto.randomUUID(), error: { message: "x" } } } }],
      [{ kind: { case: undefined } }],
    ];
    for (const first of firsts) {
      const session = startSession(transport, first);
      const error = await within(5000, `refusal of a session starting with ${first[0]!.kind?.case}`, session.closed);
      expect(error?.code).toBe(Code.InvalidArgument);
      expect(session.responses).toEqual([]);
    }
    // An empty session (closed before any message) too.
    const empty = startSession(transport, []);
    empty.end();
    expect((await within(5000, "refusal of an empty session", empty.closed))?.code).toBe(Code.InvalidArgument);
    // Nothing was claimed.
    expect(await statusOf(tenant, runId!)).toBe(RunStatus.QUEUED);
  });

  it("ends the session with INVALID_ARGUMENT on a second `open`", async () => {
    const tenant = await tenantWith("twice");
    await queueRuns(tenant, "twice", 1);
    const session = openSession(h2Transport(tenant), { workerId: "twice", workflows: ["twice"], maxRuns: 1 });
    const [lease] = await session.leasesAtLeast(1);
    session.send(open({ workerId: "twice", workflows: ["twice"], maxRuns: 1 }));
    const error = await within(5000, "refusal of a second open", session.closed);
    expect(error?.code).toBe(Code.InvalidArgument);
    // The lease pushed stays valid after the session broke.
    const { run } = await workerClient(tenant, baseUrl).completeRun({
      runId: lease!.run!.id,
      leaseId: lease!.leaseId,
      output: json("unary"),
    });
    expect(run!.status).toBe(RunStatus.SUCCEEDED);
  });

  it("refuses an `open` naming an unknown workflow with NOT_FOUND, and bad open fields with INVALID_ARGUMENT", async () => {
    const tenant = await tenantWith("known");
    const transport = h2Transport(tenant);
    for (const workflows of [["unknown"], ["known", "unknown"], [crypto.randomUUID()]]) {
      const session = openSession(transport, { workerId: "lost", workflows, maxRuns: 1 });
      expect((await within(5000, `refusal of ${workflows.join(",")}`, session.closed))?.code).toBe(Code.NotFound);
    }
    for (const request of [{ workerId: "" }, { workerId: "w", maxRuns: 101 }, { workerId: "w", maxRuns: -1 }]) {
      const session = openSession(transport, { workflows: ["known"], ...request });
      expect((await within(5000, `refusal of ${JSON.stringify(request)}`, session.closed))?.code).toBe(Code.InvalidArgument);
    }
  });

  it(
    "on half-close answers the outcomes already sent, ends the stream normally, and leaves unleased runs QUEUED",
    { timeout: 15_000 },
    async () => {
      const tenant = await tenantWith("closing");
      const created = await queueRuns(tenant, "closing", 5);
      const session = openSession(h2Transport(tenant), { workerId: "closer", workflows: ["closing"], maxRuns: 2 });
      const first = await session.leasesAtLeast(2);
      await sleep(200);
      expect(session.leases).toHaveLength(2);

      // Two outcomes, then the executor closes its side at once.
      for (const lease of first) session.complete(lease, { closed: inputN(lease) });
      session.end();
      const ended = Date.now();
      expect(await within(5000, "the response stream ending", session.closed)).toBeUndefined();
      expect(Date.now() - ended).toBeLessThan(3000);
      expect(session.outcomes.map((outcome) => [outcome.runId, outcome.status, outcome.error])).toEqual(
        expect.arrayContaining(first.map((lease) => [lease.run!.id, RunStatus.SUCCEEDED, undefined])),
      );
      expect(session.outcomes).toHaveLength(2);
      for (const lease of first) expect(await resultOf(tenant, lease.run!.id)).toEqual({ closed: inputN(lease) });

      // Runs the session did not push stay queued (none is stranded RUNNING); any lease it
      // pushed in the instant before the close stays valid.
      await sleep(300);
      const late = session.leases.slice(2);
      expect(late.length).toBeLessThanOrEqual(2);
      const statuses = await statusesOf(tenant, created);
      for (const runId of created) {
        const expected = first.some((lease) => lease.run!.id === runId)
          ? RunStatus.SUCCEEDED
          : late.some((lease) => lease.run!.id === runId)
            ? RunStatus.RUNNING
            : RunStatus.QUEUED;
        expect([runId, statuses.get(runId)]).toEqual([runId, expected]);
      }
      expect([...statuses.values()].filter((status) => status === RunStatus.QUEUED).length).toBeGreaterThanOrEqual(1);
      const worker = workerClient(tenant, baseUrl);
      for (const lease of late)
        expect((await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId })).run!.status).toBe(RunStatus.SUCCEEDED);
      const { leases } = await worker.claimRuns({ workerId: "after", workflows: ["closing"], maxRuns: 10 });
      expect(leases).toHaveLength(3 - late.length);
      expect(leases.every((lease) => lease.run!.attempt === 1)).toBe(true);
    },
  );

  it(
    "ends at once on half-close when nothing is pending, and a cancelled session hands back nothing it did not push",
    { timeout: 15_000 },
    async () => {
      const tenant = await tenantWith("idle");
      const idle = openSession(h2Transport(tenant), { workerId: "idle", workflows: ["idle"], maxRuns: 3 });
      await sleep(300);
      idle.end();
      expect(await within(3000, "an idle session ending", idle.closed)).toBeUndefined();
      expect(idle.responses).toEqual([]);

      const created = await queueRuns(tenant, "idle", 4);
      const cancelled = openSession(h2Transport(tenant), { workerId: "cancelled", workflows: ["idle"], maxRuns: 2 });
      const pushed = await cancelled.leasesAtLeast(2);
      cancelled.abort();
      expect((await within(5000, "a cancelled session ending", cancelled.closed))?.code).toBe(Code.Canceled);
      await sleep(300);
      const statuses = await statusesOf(tenant, created);
      for (const runId of created) {
        expect([runId, statuses.get(runId)]).toEqual([
          runId,
          pushed.some((lease) => lease.run!.id === runId) ? RunStatus.RUNNING : RunStatus.QUEUED,
        ]);
      }
      // Pushed leases stay valid after the session broke.
      const worker = workerClient(tenant, baseUrl);
      for (const lease of pushed)
        expect((await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId })).run!.status).toBe(RunStatus.SUCCEEDED);
    },
  );

  it(
    "two sessions drain 30 runs together: each run leased once, never more than max_runs unfinished per session",
    { timeout: 20_000 },
    async () => {
      const tenant = await tenantWith("shared");
      const created = await queueRuns(tenant, "shared", 30);
      const violations: string[] = [];
      // The server may free a slot only once its run's completion was sent: leases pushed
      // minus completions sent never exceeds max_runs. (Whether a replacement lease comes
      // before or after the outcome that made room for it is not specified.)
      const autoComplete = (maxRuns: number) => {
        let sent = 0;
        return (response: WorkResponse, session: Session) => {
          if (response.kind.case !== "assigned") return;
          const unfinished = session.leases.length - sent;
          if (unfinished > maxRuns) violations.push(`${unfinished} leased and not completed with max_runs ${maxRuns}`);
          for (const lease of response.kind.value.leases) {
            setTimeout(() => {
              sent++;
              session.complete(lease, inputN(lease) * 10);
            }, Math.random() * 20);
          }
        };
      };
      const transport = h2Transport(tenant);
      const a = openSession(transport, { workerId: "a", workflows: ["shared"], maxRuns: 3 }, autoComplete(3));
      const b = openSession(h2Transport(tenant), { workerId: "b", workflows: ["shared"], maxRuns: 2 }, autoComplete(2));
      await eventually(15_000, "30 outcomes", async () => (a.outcomes.length + b.outcomes.length >= 30 ? true : undefined), 20);
      a.end();
      b.end();
      expect(await within(5000, "session a ending", a.closed)).toBeUndefined();
      expect(await within(5000, "session b ending", b.closed)).toBeUndefined();

      expect(violations).toEqual([]);
      const leased = [...a.leases, ...b.leases].map((lease) => lease.run!.id);
      expect(leased).toHaveLength(30);
      expect(new Set(leased)).toEqual(new Set(created));
      const outcomes = [...a.outcomes, ...b.outcomes];
      expect(outcomes.every((outcome) => outcome.status === RunStatus.SUCCEEDED && outcome.error === undefined)).toBe(true);
      expect(a.leases.length).toBeGreaterThan(0);
      expect(b.leases.length).toBeGreaterThan(0);
      const statuses = await statusesOf(tenant, created);
      expect([...statuses.values()].every((status) => status === RunStatus.SUCCEEDED)).toBe(true);
      for (const [index, runId] of created.entries()) expect(await resultOf(tenant, runId)).toBe((index + 1) * 10);
    },
  );
});

describe("CompleteRun under concurrency (shared statements)", () => {
  it(
    "40 concurrent completions, 3 with a wrong lease: the 37 succeed, the 3 are FAILED_PRECONDITION and their runs keep RUNNING",
    { timeout: 15_000 },
    async () => {
      const tenant = await tenantWith("crowd");
      const created = await queueRuns(tenant, "crowd", 40);
      const worker = workerClient(tenant, baseUrl, "grpc");
      const { leases } = await worker.claimRuns({ workerId: "crowd", workflows: ["crowd"], maxRuns: 100 });
      expect(leases).toHaveLength(40);
      expect(new Set(leases.map((lease) => lease.run!.id))).toEqual(new Set(created));

      const wrong = new Set([3, 17, 38].map((index) => leases[index]!.run!.id));
      const results = await Promise.allSettled(
        leases.map((lease) =>
          worker.completeRun({
            runId: lease.run!.id,
            leaseId: wrong.has(lease.run!.id) ? crypto.randomUUID() : lease.leaseId,
            output: json({ n: inputN(lease) }),
          }),
        ),
      );

      const succeeded = results.flatMap((result, index) =>
        result.status === "fulfilled" ? [[leases[index]!, result.value] as const] : [],
      );
      const refused = results.flatMap((result, index) =>
        result.status === "rejected" ? [[leases[index]!, ConnectError.from(result.reason)] as const] : [],
      );
      expect(succeeded).toHaveLength(37);
      expect(new Set(refused.map(([lease]) => lease.run!.id))).toEqual(wrong);
      for (const [, error] of refused) {
        expect(error.code).toBe(Code.FailedPrecondition);
        expect(reasonOf(error)).toBe("LEASE_NOT_CURRENT");
      }
      // Each success answers with its own run, finished with its own output.
      for (const [lease, answer] of succeeded) {
        expect(answer.run!.id).toBe(lease.run!.id);
        expect(answer.run!.status).toBe(RunStatus.SUCCEEDED);
      }
      const statuses = await statusesOf(tenant, created);
      for (const runId of created)
        expect([runId, statuses.get(runId)]).toEqual([runId, wrong.has(runId) ? RunStatus.RUNNING : RunStatus.SUCCEEDED]);
      for (const [lease] of succeeded) expect(await resultOf(tenant, lease.run!.id)).toEqual({ n: inputN(lease) });

      // The refused ones still hold their real leases.
      for (const [lease] of refused)
        expect((await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId, output: json("late") })).run!.status).toBe(
          RunStatus.SUCCEEDED,
        );
    },
  );

  it(
    "two concurrent completions of one run with its valid lease: exactly one succeeds, the other is FAILED_PRECONDITION",
    { timeout: 15_000 },
    async () => {
      const tenant = await tenantWith("twin");
      const created = await queueRuns(tenant, "twin", 8);
      const worker = workerClient(tenant, baseUrl, "grpc");
      const { leases } = await worker.claimRuns({ workerId: "twin", workflows: ["twin"], maxRuns: 100 });
      expect(leases).toHaveLength(8);
      // All sixteen calls at once, so pairs share a statement as well as race across statements.
      const calls = leases.flatMap((lease) =>
        ["left", "right"].map((side) =>
          worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId, output: json(side) }).then(
            (answer) => ({ runId: lease.run!.id, side, status: answer.run!.status, code: undefined as Code | undefined }),
            (error: unknown) => ({ runId: lease.run!.id, side, status: undefined, code: ConnectError.from(error).code }),
          ),
        ),
      );
      const answers = await Promise.all(calls);
      for (const runId of created) {
        const pair = answers.filter((answer) => answer.runId === runId);
        expect(pair).toHaveLength(2);
        const winners = pair.filter((answer) => answer.code === undefined);
        const losers = pair.filter((answer) => answer.code !== undefined);
        expect([runId, winners.length, losers.length]).toEqual([runId, 1, 1]);
        expect(winners[0]!.status).toBe(RunStatus.SUCCEEDED);
        expect(losers[0]!.code).toBe(Code.FailedPrecondition);
        // The result is the winner's output.
        expect(await resultOf(tenant, runId)).toBe(winners[0]!.side);
        const { events } = await tenant.runs().listRunEvents({ runId });
        expect(events.map((event) => event.status)).toEqual([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED]);
      }
    },
  );
});

describe("Work over gRPC", () => {
  it("opens, receives a lease, completes it and gets the outcome", { timeout: 15_000 }, async () => {
    const tenant = await tenantWith("grpc-work");
    const [runId] = await queueRuns(tenant, "grpc-work", 1);
    const session = openSession(h2Transport(tenant, "grpc"), { workerId: "grpc-worker", workflows: ["grpc-work"], maxRuns: 1 });
    const [lease] = await session.leasesAtLeast(1);
    expect(lease!.run!.id).toBe(runId);
    expect(lease!.run!.status).toBe(RunStatus.RUNNING);
    session.send({ kind: { case: "complete", value: { runId: runId!, leaseId: crypto.randomUUID() } } });
    expect((await session.outcomeFor(runId!, 1)).error?.reason).toBe("LEASE_NOT_CURRENT");
    session.complete(lease!, { via: "grpc" });
    const outcome = await session.outcomeFor(runId!, 2);
    expect([outcome.status, outcome.error]).toEqual([RunStatus.SUCCEEDED, undefined]);
    session.end();
    expect(await within(5000, "gRPC session end", session.closed)).toBeUndefined();
    expect(await resultOf(tenant, runId!)).toEqual({ via: "grpc" });
    // A refused gRPC session carries its code too.
    const bad = startSession(h2Transport(tenant, "grpc"), [
      { kind: { case: "complete", value: { runId: runId!, leaseId: crypto.randomUUID() } } },
    ]);
    expect((await within(5000, "gRPC refusal", bad.closed))?.code).toBe(Code.InvalidArgument);
  });
});

describe("SDK createWorker", () => {
  it("with concurrency 3 performs 30 queued runs, each exactly once, and stops", { timeout: 20_000 }, async () => {
    const tenant = await tenantWith("sdk");
    const created = await queueRuns(tenant, "sdk", 30);
    const calls = new Map<string, number>();
    let running = 0;
    let mostAtOnce = 0;
    const errors: unknown[] = [];
    const worker = createWorker({
      server: baseUrl,
      apiKey: tenant.key,
      workflows: ["sdk"],
      concurrency: 3,
      workerId: "sdk-worker",
      onError: (error) => errors.push(error),
      handler: async (job: Job) => {
        calls.set(job.run.id, (calls.get(job.run.id) ?? 0) + 1);
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        try {
          expect(job.attempt).toBe(1);
          await sleep(5 + Math.random() * 25);
          return { square: (job.input as { n: number }).n ** 2 };
        } finally {
          running--;
        }
      },
    });
    try {
      await eventually(
        15_000,
        "all 30 runs SUCCEEDED",
        async () => {
          const statuses = await statusesOf(tenant, created);
          return [...statuses.values()].every((status) => status === RunStatus.SUCCEEDED) ? true : undefined;
        },
        100,
      );
    } finally {
      await within(5000, "worker.stop()", worker.stop());
    }
    expect(worker.active).toBe(0);
    expect(errors).toEqual([]);
    expect(mostAtOnce).toBeLessThanOrEqual(3);
    expect(mostAtOnce).toBeGreaterThan(1);
    expect(calls.size).toBe(30);
    expect([...calls.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    for (const [index, runId] of created.entries()) expect(await resultOf(tenant, runId)).toEqual({ square: (index + 1) ** 2 });
  });

  it(
    "stop({ graceMs }) lets a handler that finishes in time succeed, aborts one that does not and releases its run without counting the attempt",
    { timeout: 15_000 },
    async () => {
      const tenant = await tenantWith("sdk-stop");
      const runs = tenant.runs();
      const quick = (await runs.createRun({ workflow: "sdk-stop", input: json({ n: 1 }) })).run!.id;
      const slow = (await runs.createRun({ workflow: "sdk-stop", input: json({ n: 2 }) })).run!.id;
      const started = new Set<string>();
      let openGate: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (openGate = resolve));
      let slowSawAbort = false;
      let slowReturnedAt = 0;
      const errors: unknown[] = [];
      const worker = createWorker({
        server: baseUrl,
        apiKey: tenant.key,
        workflows: ["sdk-stop"],
        concurrency: 2,
        onError: (error) => errors.push(error),
        handler: async (job) => {
          started.add(job.run.id);
          if (job.run.id === quick) {
            await gate;
            return "finished in grace";
          }
          // The slow one runs until aborted, then gives up.
          await new Promise<void>((resolve) =>
            job.signal.aborted ? resolve() : job.signal.addEventListener("abort", () => resolve(), { once: true }),
          );
          slowSawAbort = job.signal.aborted;
          slowReturnedAt = Date.now();
          throw job.signal.reason;
        },
      });
      let stopped: Promise<void> | undefined;
      try {
        await eventually(5000, "both handlers started", async () => (started.size === 2 ? true : undefined));
        expect(worker.active).toBe(2);
        const stopCalled = Date.now();
        stopped = worker.stop({ graceMs: 300 });
        setTimeout(openGate, 50);
        await within(5000, "worker.stop()", stopped);
        const stopTook = Date.now() - stopCalled;
        expect(stopTook).toBeGreaterThanOrEqual(250);
        expect(slowSawAbort).toBe(true);
        expect(slowReturnedAt - stopCalled).toBeGreaterThanOrEqual(250);
      } finally {
        openGate();
        await (stopped ?? worker.stop({ graceMs: 0 }));
      }
      expect(worker.active).toBe(0);
      expect(errors).toEqual([]);

      expect(await statusOf(tenant, quick)).toBe(RunStatus.SUCCEEDED);
      expect(await resultOf(tenant, quick)).toBe("finished in grace");
      const { run: released } = await runs.getRun({ runId: slow });
      expect(released!.status).toBe(RunStatus.QUEUED);
      const { events } = await runs.listRunEvents({ runId: slow });
      expect(events.map((event) => event.status)).toEqual([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.QUEUED]);
      expect(plain(events[2]!.data)).toMatchObject({ reason: "released" });
      // The released attempt did not count: the next claim is attempt 1 again.
      const { leases } = await workerClient(tenant, baseUrl).claimRuns({ workerId: "next", workflows: ["sdk-stop"], maxRuns: 5 });
      expect(leases.map((lease) => [lease.run!.id, lease.run!.attempt])).toEqual([[slow, 1]]);
      // Stopped means stopped: the worker took nothing more.
      await sleep(200);
      expect(started.size).toBe(2);
      expect(await codeOf(workerClient(tenant, baseUrl).completeRun({ runId: slow, leaseId: leases[0]!.leaseId }))).toBeUndefined();
    },
  );
});
