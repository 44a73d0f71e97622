/**
 * A third-party client: @grpc/grpc-js with @grpc/proto-loader reading proto/ directly,
 * the way a microservice in another stack would call Runline.
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { beforeAll, describe, expect, it } from "vitest";
import { createCounterWorkflow, createTenant, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

type Callback<T> = (error: grpc.ServiceError | null, response: T) => void;
interface RunsStub extends grpc.Client {
  CreateRun(request: object, metadata: grpc.Metadata, callback: Callback<{ run: { id: string; status: string } }>): void;
  GetRun(
    request: object,
    metadata: grpc.Metadata,
    callback: Callback<{ run: { id: string; status: string; labels: Record<string, string> } }>,
  ): void;
  CancelRun(request: object, metadata: grpc.Metadata, callback: Callback<{ run: { status: string } }>): void;
  StreamRunEvents(
    request: object,
    metadata: grpc.Metadata,
  ): grpc.ClientReadableStream<{ run?: { id: string }; events: { sequence: string; type: string; status: string }[] }>;
}

let tenant: TenantFixture;
let stub: RunsStub;
let metadata: grpc.Metadata;

beforeAll(async () => {
  const server = await startTestServer();
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
  const definition = protoLoader.loadSync("runline/v1/runs_service.proto", {
    includeDirs: [path.resolve("proto"), path.resolve("node_modules/google-proto-files")],
    enums: String,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    runline: { v1: { RunsService: new (address: string, credentials: grpc.ChannelCredentials) => RunsStub } };
  };
  stub = new loaded.runline.v1.RunsService(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${tenant.key}`);
  return () => stub.close();
});

function call<T>(method: (request: object, metadata: grpc.Metadata, callback: Callback<T>) => void, request: object): Promise<T> {
  return new Promise((resolve, reject) =>
    method.call(stub, request, metadata, (error, response) => (error === null ? resolve(response) : reject(error))),
  );
}

describe("@grpc/grpc-js client", () => {
  it("creates, reads, streams and cancels a run", async () => {
    const created = await call(stub.CreateRun, {
      workflow: "counter",
      input: { structValue: { fields: { n: { numberValue: 5 } } } },
      labels: { from: "grpc-js" },
    });
    expect(created.run.status).toBe("RUN_STATUS_QUEUED");
    const fetched = await call(stub.GetRun, { runId: created.run.id });
    expect(fetched.run.labels).toEqual({ from: "grpc-js" });
    const stream = stub.StreamRunEvents({ runId: created.run.id }, metadata);
    const messages: { run?: { id: string }; events: { sequence: string; type: string; status: string }[] }[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("data", (message: (typeof messages)[number]) => {
        messages.push(message);
        if (messages.length === 1) void call(stub.CancelRun, { runId: created.run.id });
      });
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    await ended;
    expect(messages[0]!.run!.id).toBe(created.run.id);
    const events = messages.flatMap((message) => message.events);
    expect(events.map((event) => [event.sequence, event.status])).toEqual([
      ["1", "RUN_STATUS_QUEUED"],
      ["2", "RUN_STATUS_CANCELLED"],
    ]);
  });

  it("gets NOT_FOUND and UNAUTHENTICATED as gRPC status codes", async () => {
    await expect(call(stub.GetRun, { runId: "01a20f8b-0000-7000-8000-000000000000" })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    const anonymous = new grpc.Metadata();
    await expect(
      new Promise((resolve, reject) =>
        stub.GetRun({ runId: "x" }, anonymous, (error, response) => (error === null ? resolve(response) : reject(error))),
      ),
    ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });
});
