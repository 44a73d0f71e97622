/**
 * The protoc plugin's work, apart from its stdin/stdout plumbing (protoc-gen-openapi.ts):
 * a CodeGeneratorRequest in, a CodeGeneratorResponse with the OpenAPI document out, and
 * optionally the TypeScript types openapi-typescript derives from it (so a typed
 * openapi-fetch client is always in step with the document, and CI's gen/ freshness
 * check covers both). A plugin rather than a start-up step because only the plugin
 * request carries source info, and with it the proto comments the document describes.
 *
 * Options (buf.gen.yaml `opt`, protoc `--openapi_opt`), comma-separated `key=value`:
 * - `package=<proto package>`: describe only services of the files to generate in this
 *   package; may be repeated. Default: every file to generate.
 * - `title=<text>`: `info.title`. Default: "API".
 * - `version=<text>`: `info.version`. Default: "v1".
 * - `json_file=<path>`: where the document goes, relative to `out`. Default: "openapi.json".
 * - `types_file=<path>`: also write openapi-typescript's types (`paths`, `components`)
 *   there. Default: not written.
 * - `bearer_auth=false`: no security scheme. Default: HTTP bearer on every operation.
 * - `header=<package.Service.Method>:<Header-Name>=<field>`: a request header that the
 *   app's REST hooks copy into a request field, documented as a header parameter; may
 *   be repeated. Default: none (the annotations map no headers).
 */
import { create, createFileRegistry, maximumEdition, minimumEdition } from "@bufbuild/protobuf";
import type { DescService } from "@bufbuild/protobuf";
import { CodeGeneratorResponse_Feature, CodeGeneratorResponseSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { CodeGeneratorRequest, CodeGeneratorResponse } from "@bufbuild/protobuf/wkt";
import type { OpenAPI3 } from "openapi-typescript";
import { buildOpenApiDocument } from "./openapi-document.js";
import type { OpenApiDocument } from "./openapi-types.js";
import type { HeaderField } from "./request-parameters.js";

/** The plugin's options, parsed. */
export interface OpenApiPluginOptions {
  readonly packages: readonly string[];
  readonly title: string;
  readonly version: string;
  readonly jsonFile: string;
  readonly typesFile: string | undefined;
  readonly bearerAuth: boolean;
  readonly headerFields: readonly HeaderField[];
}

/** The response, and notes for the plugin's stderr (bindings OpenAPI cannot express). */
export interface OpenApiPluginResult {
  readonly response: CodeGeneratorResponse;
  readonly warnings: readonly string[];
}

/** Parses the request's `parameter`; throws naming an unknown key or a bad value. */
export function parsePluginOptions(parameter: string): OpenApiPluginOptions {
  const options = {
    packages: [] as string[],
    title: "API",
    version: "v1",
    jsonFile: "openapi.json",
    typesFile: undefined as string | undefined,
    bearerAuth: true,
    headerFields: [] as HeaderField[],
  };
  for (const pair of parameter.split(",").filter((part) => part.trim() !== "")) {
    const separator = pair.indexOf("=");
    const key = (separator === -1 ? pair : pair.slice(0, separator)).trim();
    const value = separator === -1 ? "" : pair.slice(separator + 1).trim();
    if (value === "") throw new Error(`option "${key}" needs a value (${key}=…)`);
    switch (key) {
      case "package":
        options.packages.push(value);
        break;
      case "title":
        options.title = value;
        break;
      case "version":
        options.version = value;
        break;
      case "json_file":
        options.jsonFile = value;
        break;
      case "types_file":
        options.typesFile = value;
        break;
      case "bearer_auth":
        if (value !== "true" && value !== "false") throw new Error(`option bearer_auth must be true or false, got "${value}"`);
        options.bearerAuth = value === "true";
        break;
      case "header":
        options.headerFields.push(parseHeaderField(value));
        break;
      default:
        throw new Error(`unknown option "${key}"; known: package, title, version, json_file, types_file, bearer_auth, header`);
    }
  }
  return options;
}

function parseHeaderField(value: string): HeaderField {
  const match = /^([A-Za-z_][\w.]*\.[A-Za-z_]\w*):([A-Za-z0-9-]+)=([A-Za-z_][\w.]*)$/.exec(value);
  if (match === null) throw new Error(`option header must read <package.Service.Method>:<Header-Name>=<field>, got "${value}"`);
  const [, method = "", header = "", field = ""] = match;
  return { method, header, field };
}

/** Generates the document (and types) for the request's files to generate. */
export async function generateOpenApi(request: CodeGeneratorRequest): Promise<OpenApiPluginResult> {
  const options = parsePluginOptions(request.parameter);
  const services = servicesToDescribe(request, options.packages);
  // buf runs the plugin once per input; inputs without the chosen packages add nothing.
  if (services.length === 0) return { response: responseWith([]), warnings: [] };
  const { document, warnings } = buildOpenApiDocument({
    services,
    title: options.title,
    version: options.version,
    bearerAuth: options.bearerAuth ? undefined : false,
    headerFields: options.headerFields,
  });
  const files = [{ name: options.jsonFile, content: `${JSON.stringify(document, null, 2)}\n` }];
  if (options.typesFile !== undefined) files.push({ name: options.typesFile, content: await typesOf(document) });
  return { response: responseWith(files), warnings };
}

function responseWith(files: { name: string; content: string }[]): CodeGeneratorResponse {
  return create(CodeGeneratorResponseSchema, {
    supportedFeatures: BigInt(CodeGeneratorResponse_Feature.PROTO3_OPTIONAL | CodeGeneratorResponse_Feature.SUPPORTS_EDITIONS),
    minimumEdition,
    maximumEdition,
    file: files,
  });
}

/** The services of the files to generate, in the chosen packages. */
function servicesToDescribe(request: CodeGeneratorRequest, packages: readonly string[]): DescService[] {
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
  const services: DescService[] = [];
  for (const name of request.fileToGenerate) {
    const file = registry.getFile(name);
    if (file === undefined) throw new Error(`${name} is to be generated but the request holds no descriptor for it`);
    if (packages.length === 0 || packages.includes(file.proto.package)) services.push(...file.services);
  }
  return services;
}

const typesHeader =
  "// @generated by protoc-gen-openapi with openapi-typescript, from the OpenAPI document it writes beside this file. DO NOT EDIT.\n\n";

/** openapi-typescript's types for the document, as a module. */
async function typesOf(document: OpenApiDocument): Promise<string> {
  // Loaded only here: it brings the TypeScript compiler, seconds of start-up that the
  // plugin's runs for inputs without our packages (buf runs it once per input) skip.
  const { default: openapiTS, astToString } = await import("openapi-typescript");
  // It mutates its input while resolving, hence the copy. Silent: a plugin's stdout
  // carries the response, so nothing else may be printed there.
  const nodes = await openapiTS(structuredClone(document) as unknown as OpenAPI3, { silent: true });
  return `${typesHeader}${astToString(nodes)}`;
}
