/**
 * IngestRunEvents and ListRunEvents: the server numbers a run's events 1, 2, 3 … with no
 * gap or duplicate, however many writers append at once; a client event id makes a
 * retried append a no-op; and the log of a finished run is closed.
 */
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { RunStatus, type RunEvent } from "../../gen/runline/v1/run_pb.js";
import { createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { rejection } from "../support/expectations.js";

let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer();
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
});

/** A new QUEUED run; its log holds the creation status event (sequence 1). */
async function createRun(): Promise<string> {
  const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
  return run!.id;
}

function sequencesOf(events: readonly RunEvent[]): number[] {
  return events.map((event) => Number(event.sequence));
}

/** 1, 2, … n. */
function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, index) => index + 1);
}

/** The run's whole log, read page by page through ListRunEvents. */
async function readWholeLog(runId: string, pageSize = 1000): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for (;;) {
    const page = await tenant.runs().listRunEvents({ runId, afterSequence: events.at(-1)?.sequence ?? 0n, pageSize });
    if (page.events.length === 0) return events;
    events.push(...page.events);
  }
}

describe("IngestRunEvents numbering and ListRunEvents", () => {
  it("assigns sequences 2, 3, … after the creation status event, in request order", async () => {
    const runId = await createRun();
    const first = await tenant.runs().ingestRunEvents({
      runId,
      events: [
        { type: "progress", data: json({ step: 1 }) },
        { type: "log", data: json("two") },
        { type: "progress", data: json({ step: 3 }) },
      ],
    });
    expect(sequencesOf(first.events)).toEqual([2, 3, 4]);
    expect(first.events.map((event) => event.type)).toEqual(["progress", "log", "progress"]);
    expect(first.events.every((event) => event.runId === runId)).toBe(true);
    const second = await tenant.runs().ingestRunEvents({
      runId,
      events: [
        { type: "log", data: json(5) },
        { type: "log", data: json(null) },
      ],
    });
    expect(sequencesOf(second.events)).toEqual([5, 6]);
    const { run } = await tenant.runs().getRun({ runId });
    expect(run!.lastSequence).toBe(6n);
  });

  it("lists the log in order from a cursor, a page at a time, and reports the last sequence", async () => {
    const runId = await createRun();
    await tenant.runs().ingestRunEvents({ runId, events: oneTo(5).map((index) => ({ type: "progress", data: json({ index }) })) });

    const whole = await tenant.runs().listRunEvents({ runId, afterSequence: 0n });
    expect(sequencesOf(whole.events)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(whole.lastSequence).toBe(6n);
    expect(whole.events[0]!.type).toBe("status");
    expect(whole.events[0]!.status).toBe(RunStatus.QUEUED);
    expect(whole.events.slice(1).map((event) => toJson(ValueSchema, event.data!))).toEqual(oneTo(5).map((index) => ({ index })));

    const page = await tenant.runs().listRunEvents({ runId, afterSequence: 2n, pageSize: 2 });
    expect(sequencesOf(page.events)).toEqual([3, 4]);
    expect(page.lastSequence).toBe(6n);

    const atEnd = await tenant.runs().listRunEvents({ runId, afterSequence: 6n });
    expect(atEnd.events).toEqual([]);
    expect(atEnd.lastSequence).toBe(6n);

    expect(sequencesOf(await readWholeLog(runId, 2))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("refuses a negative cursor or page size with INVALID_ARGUMENT", async () => {
    const runId = await createRun();
    expect((await rejection(tenant.runs().listRunEvents({ runId, afterSequence: -1n }))).code).toBe(Code.InvalidArgument);
    expect((await rejection(tenant.runs().listRunEvents({ runId, pageSize: -1 }))).code).toBe(Code.InvalidArgument);
  });
});

describe("IngestRunEvents with event ids", () => {
  it("appends nothing for a re-sent batch and answers with the stored events and their original sequences", async () => {
    const runId = await createRun();
    const batch = [
      { type: "progress", data: json({ step: "a" }), eventId: "a" },
      { type: "progress", data: json({ step: "b" }), eventId: "b" },
    ];
    const first = await tenant.runs().ingestRunEvents({ runId, events: batch });
    expect(sequencesOf(first.events)).toEqual([2, 3]);

    const retried = await tenant.runs().ingestRunEvents({ runId, events: batch });
    expect(sequencesOf(retried.events)).toEqual([2, 3]);
    expect(retried.events.map((event) => event.eventId)).toEqual(["a", "b"]);
    expect(retried.events.map((event) => event.createTime)).toEqual(first.events.map((event) => event.createTime));
    expect((await tenant.runs().listRunEvents({ runId })).lastSequence).toBe(3n);

    // Half old, half new: only the new one is appended, each answered in request order.
    const mixed = await tenant.runs().ingestRunEvents({
      runId,
      events: [
        { type: "progress", eventId: "b" },
        { type: "progress", eventId: "c" },
      ],
    });
    expect(sequencesOf(mixed.events)).toEqual([3, 4]);
    expect((await tenant.runs().listRunEvents({ runId })).lastSequence).toBe(4n);
  });

  it("keeps the first stored copy when an event id comes back with different data", async () => {
    const runId = await createRun();
    await tenant.runs().ingestRunEvents({ runId, events: [{ type: "progress", data: json("original"), eventId: "same" }] });
    const retried = await tenant.runs().ingestRunEvents({ runId, events: [{ type: "progress", data: json("changed"), eventId: "same" }] });
    expect(toJson(ValueSchema, retried.events[0]!.data!)).toBe("original");
  });

  it("stores an event id repeated within one batch once, and events without an id every time", async () => {
    const runId = await createRun();
    const response = await tenant.runs().ingestRunEvents({
      runId,
      events: [
        { type: "log", data: json(1), eventId: "x" },
        { type: "log", data: json(2) },
        { type: "log", data: json(3), eventId: "x" },
        { type: "log", data: json(4) },
      ],
    });
    expect(sequencesOf(response.events)).toEqual([2, 3, 2, 4]);
    const log = await tenant.runs().listRunEvents({ runId });
    expect(sequencesOf(log.events)).toEqual([1, 2, 3, 4]);
    expect(log.events.slice(1).map((event) => toJson(ValueSchema, event.data!))).toEqual([1, 2, 4]);
  });
});

describe("IngestRunEvents under contention", () => {
  it("keeps sequences gapless and unique with 20 concurrent writers on one run over every protocol", async () => {
    const runId = await createRun();
    const writers = 20;
    const batches = 10;
    const batchSize = 5;
    const assigned = new Map<string, number>();
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        const runs = tenant.runs(protocols[writer % protocols.length]);
        for (let batch = 0; batch < batches; batch++) {
          const events = Array.from({ length: batchSize }, (_, index) => ({
            type: "progress",
            data: json({ writer, batch, index }),
            eventId: `${writer}/${batch}/${index}`,
          }));
          const response = await runs.ingestRunEvents({ runId, events });
          const sequences = sequencesOf(response.events);
          // One batch is one statement: its events are numbered consecutively.
          expect(sequences).toEqual(Array.from({ length: batchSize }, (_, index) => sequences[0]! + index));
          response.events.forEach((event) => assigned.set(event.eventId, Number(event.sequence)));
        }
      }),
    );

    const total = 1 + writers * batches * batchSize;
    const log = await readWholeLog(runId, 300);
    expect(sequencesOf(log)).toEqual(oneTo(total));
    expect((await tenant.runs().getRun({ runId })).run!.lastSequence).toBe(BigInt(total));
    // Every writer was told the sequence its event is actually stored under.
    expect(assigned.size).toBe(total - 1);
    for (const event of log.slice(1)) expect(assigned.get(event.eventId)).toBe(Number(event.sequence));
  });
});

describe("IngestRunEvents validation", () => {
  it("refuses the server's own `status` type with INVALID_ARGUMENT naming the event, and appends nothing", async () => {
    const runId = await createRun();
    const error = await rejection(tenant.runs().ingestRunEvents({ runId, events: [{ type: "status", data: json({ fake: true }) }] }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.findDetails(BadRequestSchema)[0]!.fieldViolations.map((violation) => violation.field)).toEqual(["events[0].type"]);

    const laterInBatch = await rejection(tenant.runs().ingestRunEvents({ runId, events: [{ type: "progress" }, { type: "status" }] }));
    expect(laterInBatch.findDetails(BadRequestSchema)[0]!.fieldViolations[0]!.field).toBe("events[1].type");
    expect((await tenant.runs().listRunEvents({ runId })).lastSequence).toBe(1n);
  });

  it("refuses an empty batch with INVALID_ARGUMENT naming `events`", async () => {
    const runId = await createRun();
    const error = await rejection(tenant.runs().ingestRunEvents({ runId, events: [] }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.findDetails(BadRequestSchema)[0]!.fieldViolations[0]!.field).toBe("events");
  });

  it("refuses events for a CANCELLED run with FAILED_PRECONDITION: a finished run's log is closed", async () => {
    const runId = await createRun();
    const { run } = await tenant.runs().cancelRun({ runId, reason: "test" });
    expect(run!.status).toBe(RunStatus.CANCELLED);
    const error = await rejection(tenant.runs().ingestRunEvents({ runId, events: [{ type: "progress" }] }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect((await tenant.runs().listRunEvents({ runId })).lastSequence).toBe(2n);
  });

  it("answers NOT_FOUND for an unknown run", async () => {
    const error = await rejection(
      tenant.runs().ingestRunEvents({ runId: "01a20f8b-0000-7000-8000-000000000000", events: [{ type: "progress" }] }),
    );
    expect(error.code).toBe(Code.NotFound);
  });
});
