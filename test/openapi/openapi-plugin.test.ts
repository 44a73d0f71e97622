/**
 * The protoc plugin: its options, which files it describes, what it writes, and its
 * stdin/stdout plumbing run as buf runs it. Requests are assembled from the descriptors
 * embedded in gen/, as protoc would send them (every file with its imports first).
 */
import { spawn } from "node:child_process";
import { create, fromBinary, toBinary, type DescFile } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, CodeGeneratorResponseSchema, type CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { file_runline_v1_admin_service } from "../../gen/runline/v1/admin_service_pb.js";
import { file_runline_v1_runs_service } from "../../gen/runline/v1/runs_service_pb.js";
import { file_transcodingtest_v1_test_service } from "../../gen/transcodingtest/v1/test_service_pb.js";
import { generateOpenApi } from "../../src/openapi/openapi-plugin.js";
import { parsePluginOptions } from "../../src/openapi/plugin-options.js";
import type { OpenApiDocument } from "../../src/openapi/openapi-types.js";

/** A request to generate `files`, carrying them and everything they import. */
function requestFor(files: readonly DescFile[], parameter: string): CodeGeneratorRequest {
  const ordered: DescFile[] = [];
  const visit = (file: DescFile): void => {
    if (ordered.includes(file)) return;
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  files.forEach(visit);
  return create(CodeGeneratorRequestSchema, {
    fileToGenerate: files.map((file) => file.proto.name),
    parameter,
    protoFile: ordered.map((file) => file.proto),
  });
}

describe("plugin options", () => {
  it("has defaults for everything", () => {
    expect(parsePluginOptions("")).toEqual({
      packages: [],
      title: "API",
      version: "v1",
      license: undefined,
      servers: undefined,
      jsonFile: "openapi.json",
      typesFile: undefined,
      bearerAuth: true,
      headerFields: [],
      errorCodes: [],
      responseHeaders: [],
      entityTags: [],
      noContent: [],
    });
  });

  it("reads repeated packages, titles with spaces and the output files", () => {
    const options = parsePluginOptions(
      "package=a.v1,package=b.v1,title=Runline API,version=v2,json_file=x/y.json,types_file=x/y.ts,bearer_auth=false,header=a.v1.S.M:X-Key=key",
    );
    expect(options).toMatchObject({
      packages: ["a.v1", "b.v1"],
      title: "Runline API",
      version: "v2",
      jsonFile: "x/y.json",
      typesFile: "x/y.ts",
      bearerAuth: false,
      headerFields: [{ method: "a.v1.S.M", header: "X-Key", field: "key" }],
    });
  });

  it("reads the license, servers, error codes and what REST hooks add to responses", () => {
    const options = parsePluginOptions(
      [
        "license=Proprietary",
        "server=/",
        "server=https://api.example.com",
        "errors=*:PERMISSION_DENIED UNAVAILABLE",
        "errors=a.v1.S.Get:NOT_FOUND",
        "response_header=a.v1.S.Create:200:Replayed=replayed",
        "etag=a.v1.S.Get:content.hash",
        "no_content=a.v1.S.Get:output.outcome",
      ].join(","),
    );
    expect(options).toMatchObject({
      license: { name: "Proprietary" },
      servers: [{ url: "/" }, { url: "https://api.example.com" }],
      errorCodes: [
        { selector: "*", codes: [Code.PermissionDenied, Code.Unavailable] },
        { selector: "a.v1.S.Get", codes: [Code.NotFound] },
      ],
      responseHeaders: [{ method: "a.v1.S.Create", status: 200, header: "Replayed", field: "replayed" }],
      entityTags: [{ method: "a.v1.S.Get", field: "content.hash" }],
      noContent: [{ method: "a.v1.S.Get", path: "output.outcome" }],
    });
  });

  it("refuses unknown keys and missing or bad values", () => {
    expect(() => parsePluginOptions("packages=runline.v1")).toThrow(/unknown option "packages"/);
    expect(() => parsePluginOptions("title")).toThrow(/option "title" needs a value/);
    expect(() => parsePluginOptions("bearer_auth=maybe")).toThrow(/true or false/);
    expect(() => parsePluginOptions("header=Method:X-Key=key")).toThrow(/<package.Service.Method>:<Header-Name>=<field>/);
    expect(() => parsePluginOptions("errors=*:NOT_FOUND GONE")).toThrow(/unknown gRPC code "GONE"/);
    expect(() => parsePluginOptions("errors=*:404")).toThrow(/<selector>:<CODE> <CODE>…/);
    expect(() => parsePluginOptions("response_header=a.v1.S.M:OK:X-A=a")).toThrow(/<status>:<Header-Name>=<field>/);
    expect(() => parsePluginOptions("etag=a.v1.S.M")).toThrow(/<package.Service.Method>:<field>/);
  });
});

describe("generating", () => {
  it("describes only the chosen packages' services", async () => {
    const request = requestFor(
      [file_runline_v1_runs_service, file_transcodingtest_v1_test_service],
      "package=runline.v1,json_file=openapi/api.json,title=T",
    );
    const { response, warnings } = await generateOpenApi(request);
    expect(response.error).toBe("");
    expect(response.file.map((file) => file.name)).toEqual(["openapi/api.json"]);
    const document = JSON.parse(response.file[0]?.content ?? "") as OpenApiDocument;
    expect(document.info.title).toBe("T");
    expect(document.tags.map((tag) => tag.name)).toEqual(["RunsService"]);
    expect(warnings).toEqual([]);
  });

  it("documents the headers it is told fill request fields, and refuses unknown methods", async () => {
    const header = "header=runline.v1.RunsService.CreateRun:Idempotency-Key=idempotency_key";
    const { response } = await generateOpenApi(requestFor([file_runline_v1_runs_service], `package=runline.v1,${header}`));
    const document = JSON.parse(response.file[0]?.content ?? "") as OpenApiDocument;
    expect(document.paths["/api/v1/runs"]?.post?.parameters).toEqual([
      { name: "Idempotency-Key", in: "header", description: "Sets the request field `idempotencyKey`.", schema: { type: "string" } },
    ]);
    await expect(
      generateOpenApi(requestFor([file_runline_v1_runs_service], "header=runline.v1.RunsService.MakeRun:X-A=a")),
    ).rejects.toThrow(/MakeRun is not a described method/);
  });

  it("describes what REST hooks add, and refuses methods, services, fields and statuses that do not exist", async () => {
    const generate = (options: string[]) => generateOpenApi(requestFor([file_runline_v1_runs_service], options.join(",")));
    const { response } = await generate([
      "errors=runline.v1.RunsService:NOT_FOUND",
      "etag=runline.v1.RunsService.GetRunDefinition:content_hash",
      "no_content=runline.v1.RunsService.GetRunOutput:output.outcome",
      "response_header=runline.v1.RunsService.GetRunOutput:204:X-Done=output.done",
    ]);
    const document = JSON.parse(response.file[0]?.content ?? "") as OpenApiDocument;
    expect(Object.keys(document.paths["/api/v1/runs/{run_id}/definition"]?.get?.responses ?? {})).toEqual([
      "200",
      "304",
      "400",
      "401",
      "404",
      "500",
      "504",
      "default",
    ]);
    expect(document.paths["/api/v1/runs/{run_id}/output"]?.get?.responses["204"]).toMatchObject({
      description: "No Content: none of `output.result`, `output.interrupt`, `output.error` is set (oneof `outcome`), so there is no body.",
      headers: { "X-Done": { schema: { type: "boolean" } } },
    });
    await expect(generate(["errors=runline.v1.JobsService:NOT_FOUND"])).rejects.toThrow(/JobsService is not a described service or method/);
    await expect(generate(["etag=runline.v1.RunsService.GetRunDefinition:hash"])).rejects.toThrow(/has no field "hash"/);
    await expect(generate(["no_content=runline.v1.RunsService.GetRunOutput:output.results"])).rejects.toThrow(/has no field "results"/);
    await expect(generate(["response_header=runline.v1.RunsService.GetRun:204:X-A=run.id"])).rejects.toThrow(
      /X-A of runline.v1.RunsService.GetRun: the method has no 204 response/,
    );
    await expect(generate(["response_header=runline.v1.RunsService.GetRun:200:X-A=run"])).rejects.toThrow(/"run" is not a scalar or enum/);
  });

  it("writes nothing for an input without the chosen packages (buf runs it once per input)", async () => {
    const { response } = await generateOpenApi(requestFor([file_transcodingtest_v1_test_service], "package=runline.v1"));
    expect(response.file).toEqual([]);
  });

  it("fails naming an annotation the transcoder would refuse", async () => {
    // The transcoder's test file also holds services whose annotations are wrong on purpose.
    await expect(generateOpenApi(requestFor([file_transcodingtest_v1_test_service], ""))).rejects.toThrow(
      /HTTP binding GET \/v1\/by-tags\/\{tags\} .*: path variable "tags" must name a singular scalar or enum field/,
    );
  });

  it("writes openapi-typescript types beside the document when asked", async () => {
    const { response } = await generateOpenApi(requestFor([file_runline_v1_admin_service], "json_file=a.json,types_file=a.ts"));
    expect(response.file.map((file) => file.name)).toEqual(["a.json", "a.ts"]);
    expect(response.file[1]?.content).toMatch(/^\/\/ @generated by protoc-gen-openapi/);
    expect(response.file[1]?.content).toContain('"/api/v1/tenants": {');
  });
});

describe("protoc-gen-openapi, run as buf runs it", () => {
  /** Runs the plugin entry with `request` on stdin. */
  async function runPlugin(request: CodeGeneratorRequest): Promise<{ exitCode: number | null; stdout: Buffer; stderr: string }> {
    const child = spawn(process.execPath, ["--import", "tsx", "src/openapi/protoc-gen-openapi.ts"], { stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin.end(toBinary(CodeGeneratorRequestSchema, request));
    const exitCode = await new Promise<number | null>((resolve) => child.on("close", resolve));
    return { exitCode, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() };
  }

  it("reads a request on stdin and writes the response on stdout", async () => {
    const { exitCode, stdout, stderr } = await runPlugin(requestFor([file_runline_v1_runs_service], "package=runline.v1"));
    expect(stderr).toBe("");
    expect(exitCode).toBe(0);
    expect(fromBinary(CodeGeneratorResponseSchema, stdout).file.map((file) => file.name)).toEqual(["openapi.json"]);
  });

  it("fails with its name and the reason on stderr", async () => {
    const { exitCode, stdout, stderr } = await runPlugin(requestFor([file_runline_v1_runs_service], "colour=blue"));
    expect(exitCode).toBe(1);
    expect(stdout.length).toBe(0);
    expect(stderr).toMatch(/^protoc-gen-openapi: unknown option "colour"/);
  });
});
