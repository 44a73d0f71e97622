/**
 * gRPC server reflection: a tool with no proto files (the real `buf curl` binary) can
 * list, inspect and call every service; and each request kind of the protocol, v1 and
 * v1alpha, answers as grpc-go's reflection does.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary, getOption } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { http } from "../../gen/google/api/annotations_pb.js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

const servedServices = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "runline.v1.AdminService",
  "runline.v1.AuthService",
  "runline.v1.RunsService",
  "runline.v1.WebhooksService",
  "runline.v1.WorkerService",
  "runline.v1.WorkflowsService",
];

const bufBinary = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
const run = promisify(execFile);

/** Runs `buf curl` with `args`; never with --schema, so every schema comes from reflection. */
async function bufCurl(...args: string[]): Promise<string> {
  const { stdout } = await run(bufBinary, ["curl", ...args], { timeout: 20_000 });
  return stdout;
}

let baseUrl: string;
let tenant: TenantFixture;
beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
});

describe("buf curl, with reflection and no proto files", () => {
  it.each([
    ["the newest reflection protocol", []],
    ["grpc.reflection.v1", ["--reflect-protocol", "grpc-v1"]],
    ["grpc.reflection.v1alpha", ["--reflect-protocol", "grpc-v1alpha"]],
  ])("lists every service over %s", async (_protocol, flags) => {
    const listed = (await bufCurl(...flags, "--list-services", baseUrl)).trim().split("\n");
    expect(listed).toEqual(servedServices);
  });

  it("lists the methods of every service", async () => {
    const methods = (await bufCurl("--list-methods", baseUrl)).trim().split("\n");
    expect(methods).toContain("runline.v1.RunsService/GetRun");
    expect(methods).toContain("runline.v1.RunsService/StreamRunEvents");
    expect(methods).toContain("grpc.health.v1.Health/Watch");
  });

  it.each([["grpc"], ["connect"], ["grpcweb"]])(
    "calls RunsService.GetRun over %s, the API key sent only with the call",
    async (protocol) => {
      const { run: created } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
      const output = await bufCurl(
        "--protocol",
        protocol,
        "--http2-prior-knowledge",
        "-H",
        `Authorization: Bearer ${tenant.key}`,
        "-d",
        JSON.stringify({ runId: created!.id }),
        `${baseUrl}/runline.v1.RunsService/GetRun`,
      );
      expect(JSON.parse(output)).toMatchObject({ run: { id: created!.id, status: "RUN_STATUS_QUEUED" } });
    },
  );

  it("streams a run's events until the run ends", async () => {
    const runs = tenant.runs();
    const { run: created } = await runs.createRun({ workflow: "counter", input: json({ n: 2 }) });
    await runs.cancelRun({ runId: created!.id, reason: "test" });
    const output = await bufCurl(
      "--protocol",
      "grpc",
      "-H",
      `Authorization: Bearer ${tenant.key}`,
      "-d",
      JSON.stringify({ runId: created!.id }),
      `${baseUrl}/runline.v1.RunsService/StreamRunEvents`,
    );
    // One pretty-printed JSON document per message.
    const messages = output.split(/\n(?=\{)/).map((text) => JSON.parse(text) as { run?: { id: string }; events?: { type: string }[] });
    expect(messages[0]!.run!.id).toBe(created!.id);
    expect(messages.flatMap((message) => message.events ?? []).map((event) => event.type)).toContain("status");
    expect(output).toContain("RUN_STATUS_CANCELLED");
  });

  it("checks health", async () => {
    expect(JSON.parse(await bufCurl("--protocol", "grpc", `${baseUrl}/grpc.health.v1.Health/Check`))).toEqual({ status: "SERVING" });
  });
});

/** One request of either version, as an init value (the two share their shapes). */
type Query = v1.ServerReflectionRequest["messageRequest"];

/** Sends `queries` on one v1 stream (no API key) and returns the answers in order. */
async function askV1(queries: Query[]): Promise<v1.ServerReflectionResponse[]> {
  const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl }));
  const requests = queries.map((messageRequest) => create(v1.ServerReflectionRequestSchema, { host: "reflection-test", messageRequest }));
  const answers: v1.ServerReflectionResponse[] = [];
  for await (const answer of client.serverReflectionInfo(toStream(requests))) answers.push(answer);
  return answers;
}

/** The same on a v1alpha stream. */
async function askV1alpha(queries: Query[]): Promise<v1alpha.ServerReflectionResponse[]> {
  const client = createClient(v1alpha.ServerReflection, createGrpcTransport({ baseUrl }));
  const requests = queries.map((query) =>
    create(v1alpha.ServerReflectionRequestSchema, {
      host: "reflection-test",
      messageRequest:
        query.case === "fileContainingExtension"
          ? { case: query.case, value: { containingType: query.value.containingType, extensionNumber: query.value.extensionNumber } }
          : query,
    }),
  );
  const answers: v1alpha.ServerReflectionResponse[] = [];
  for await (const answer of client.serverReflectionInfo(toStream(requests))) answers.push(answer);
  return answers;
}

async function* toStream<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

/** The decoded files of a file_descriptor_response, or a failure naming what came instead. */
function filesOf(answer: v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse): FileDescriptorProto[] {
  if (answer.messageResponse.case !== "fileDescriptorResponse")
    throw new Error(`expected files, got ${answer.messageResponse.case}: ${JSON.stringify(answer.messageResponse.value)}`);
  return answer.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

/** `files` ordered so that each comes after its imports (as a FileDescriptorSet wants); throws on a missing import. */
function dependenciesFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const ordered = new Set<FileDescriptorProto>();
  const visit = (file: FileDescriptorProto): void => {
    if (ordered.has(file)) return;
    for (const name of file.dependency) {
      const imported = files.find((candidate) => candidate.name === name);
      if (imported === undefined) throw new Error(`${file.name} imports ${name}, which the answer lacks`);
      visit(imported);
    }
    ordered.add(file);
  };
  files.forEach(visit);
  return [...ordered];
}

function extension(containingType: string, extensionNumber: number): Query {
  return { case: "fileContainingExtension", value: create(v1.ExtensionRequestSchema, { containingType, extensionNumber }) };
}

const symbolsAndFiles: [string, string][] = [
  ["runline.v1.RunsService", "runline/v1/runs_service.proto"],
  ["runline.v1.RunsService.GetRun", "runline/v1/runs_service.proto"],
  ["runline.v1.GetRunRequest", "runline/v1/runs_service.proto"],
  ["runline.v1.Run", "runline/v1/run.proto"],
  ["runline.v1.Run.status", "runline/v1/run.proto"],
  ["runline.v1.RunStatus", "runline/v1/run.proto"],
  // Enum values are scoped beside their enum, as protobuf names them.
  ["runline.v1.RUN_STATUS_CANCELLED", "runline/v1/run.proto"],
  ["grpc.health.v1.HealthCheckResponse.ServingStatus", "health/v1/health.proto"],
  ["grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN", "health/v1/health.proto"],
  ["grpc.health.v1.HealthListResponse.StatusesEntry", "health/v1/health.proto"],
  ["grpc.reflection.v1alpha.ServerReflectionRequest.message_request", "grpc/reflection/v1alpha/reflection.proto"],
  ["google.api.http", "google/api/annotations.proto"],
  ["google.api.HttpRule.pattern", "google/api/http.proto"],
  ["google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
  ["google.protobuf.MethodOptions", "google/protobuf/descriptor.proto"],
  ["google.rpc.ErrorInfo", "google/rpc/error_details.proto"],
];

describe("grpc.reflection.v1.ServerReflection, asked directly", () => {
  it("lists the served services, echoing host and request", async () => {
    const [answer] = await askV1([{ case: "listServices", value: "*" }]);
    expect(answer!.validHost).toBe("reflection-test");
    expect(answer!.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "*" });
    expect(answer!.messageResponse.case).toBe("listServicesResponse");
    expect(answer!.messageResponse.value).toMatchObject({ service: servedServices.map((name) => ({ name })) });
  });

  it("answers file_by_filename with the file first and each import once, enough to describe a method", async () => {
    const [answer] = await askV1([{ case: "fileByFilename", value: "runline/v1/runs_service.proto" }]);
    const files = filesOf(answer!);
    const names = files.map((file) => file.name);
    expect(names[0]).toBe("runline/v1/runs_service.proto");
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([
      "google/api/annotations.proto",
      "google/api/http.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/duration.proto",
      "google/protobuf/struct.proto",
      "google/protobuf/timestamp.proto",
      "runline/v1/run.proto",
      "runline/v1/runs_service.proto",
    ]);
    // A complete set: a registry builds from it alone, options and all.
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: dependenciesFirst(files) }));
    const getRun = registry.getService("runline.v1.RunsService")!.methods.find((method) => method.name === "GetRun")!;
    expect(getRun.input.typeName).toBe("runline.v1.GetRunRequest");
    expect(getRun.output.typeName).toBe("runline.v1.GetRunResponse");
    expect(getRun.methodKind).toBe("unary");
    expect(getOption(getRun, http).pattern).toEqual({ case: "get", value: "/api/v1/runs/{run_id}" });
  });

  it("answers file_containing_symbol for services, methods, messages, nested types, fields, oneofs, enums, enum values and extensions", async () => {
    const answers = await askV1(symbolsAndFiles.map(([symbol]) => ({ case: "fileContainingSymbol", value: symbol })));
    expect(answers.map((answer) => filesOf(answer)[0]!.name)).toEqual(symbolsAndFiles.map(([, file]) => file));
  });

  it("answers file_containing_extension and all_extension_numbers_of_type", async () => {
    const answers = await askV1([
      extension("google.protobuf.MethodOptions", 72295728),
      { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" },
      { case: "allExtensionNumbersOfType", value: "runline.v1.Run" },
    ]);
    expect(filesOf(answers[0]!).map((file) => file.name)).toEqual([
      "google/api/annotations.proto",
      "google/api/http.proto",
      "google/protobuf/descriptor.proto",
    ]);
    expect(answers[1]!.messageResponse.value).toMatchObject({ baseTypeName: "google.protobuf.MethodOptions", extensionNumber: [72295728] });
    expect(answers[2]!.messageResponse.value).toMatchObject({ baseTypeName: "runline.v1.Run", extensionNumber: [] });
  });

  it("answers unknown names with error_response NOT_FOUND and keeps the stream going", async () => {
    const answers = await askV1([
      { case: "fileContainingSymbol", value: "runline.v1.NoSuchThing" },
      { case: "fileByFilename", value: "runline/v1/nope.proto" },
      extension("google.protobuf.MethodOptions", 1),
      { case: "allExtensionNumbersOfType", value: "runline.v1.NoSuchMessage" },
      { case: "listServices", value: "" },
    ]);
    for (const answer of answers.slice(0, 4)) {
      expect(answer.messageResponse.case).toBe("errorResponse");
      expect(answer.messageResponse.value).toMatchObject({ errorCode: 5 /* NOT_FOUND */ });
    }
    expect(answers[0]!.messageResponse.value).toMatchObject({ errorMessage: "symbol not found: runline.v1.NoSuchThing" });
    expect(answers[4]!.messageResponse.case).toBe("listServicesResponse");
  });

  it("answers a request of no known kind with error_response UNIMPLEMENTED", async () => {
    const [answer] = await askV1([{ case: undefined }]);
    expect(answer!.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 12 /* UNIMPLEMENTED */ } });
  });
});

describe("grpc.reflection.v1alpha.ServerReflection, asked directly", () => {
  it("answers every request kind as v1 does", async () => {
    const queries: Query[] = [
      { case: "listServices", value: "*" },
      { case: "fileByFilename", value: "health/v1/health.proto" },
      { case: "fileContainingSymbol", value: "runline.v1.RunsService.StreamRunEvents" },
      extension("google.protobuf.MethodOptions", 72295728),
      { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" },
      { case: "fileContainingSymbol", value: "runline.v1.NoSuchThing" },
    ];
    const [alpha, stable] = await Promise.all([askV1alpha(queries), askV1(queries)]);
    expect(alpha.map((answer) => answer.$typeName)).toEqual(queries.map(() => "grpc.reflection.v1alpha.ServerReflectionResponse"));
    expect(alpha.map((answer) => answer.messageResponse.case)).toEqual([
      "listServicesResponse",
      "fileDescriptorResponse",
      "fileDescriptorResponse",
      "fileDescriptorResponse",
      "allExtensionNumbersResponse",
      "errorResponse",
    ]);
    // Same content, whatever the version: compare the bytes and values, not the type names.
    const content = (answers: (v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse)[]) =>
      answers.map((answer) =>
        JSON.stringify(answer.messageResponse.value, (key, value: unknown) =>
          key === "$typeName" ? undefined : value instanceof Uint8Array ? Buffer.from(value).toString("base64") : value,
        ),
      );
    expect(content(alpha)).toEqual(content(stable));
    expect(alpha[0]!.originalRequest?.$typeName).toBe("grpc.reflection.v1alpha.ServerReflectionRequest");
  });
});
