/**
 * The plugin's options (buf.gen.yaml `opt`, protoc `--openapi_opt`), comma-separated
 * `key=value`. Most say what an app's REST hooks do beyond the annotations, which the
 * descriptors cannot tell; methods are named `package.Service.Method`, fields by their
 * proto names, dotted for nested ones.
 * - `package=<proto package>`: describe only services of the files to generate in this
 *   package; may be repeated. Default: every file to generate.
 * - `title=<text>`: `info.title`. Default: "API".
 * - `version=<text>`: `info.version`. Default: "v1".
 * - `license=<name>`: `info.license.name`. Default: no license.
 * - `server=<url>`: a `servers` entry; may be repeated. `/` means "where the document
 *   was fetched from". Default: none.
 * - `json_file=<path>`: where the document goes, relative to `out`. Default: "openapi.json".
 * - `types_file=<path>`: also write openapi-typescript's types (`paths`, `components`)
 *   there. Default: not written.
 * - `bearer_auth=false`: no security scheme. Default: HTTP bearer on every operation.
 * - `query_credential=<name>`: the bearer token may also come as this query parameter
 *   on GET routes of server streams (the transcoder's `queryCredential`). Default: none.
 * - `header=<method>:<Header-Name>=<field>`: a request header copied into a request
 *   field, documented as a header parameter; may be repeated. Default: none.
 * - `errors=<selector>:<CODE> <CODE>…`: gRPC codes (`NOT_FOUND`, …) the selected methods
 *   can end with, besides those every operation can (error-responses.ts); the selector
 *   is `*`, `package.Service` or a method; may be repeated. Default: none.
 * - `response_header=<method>:<status>:<Header-Name>=<field>`: a response header that
 *   carries a response field on that status's response; may be repeated. Default: none.
 * - `etag=<method>:<field>`: the method's 200 carries a weak `ETag` derived from the
 *   response field, and `If-None-Match` answers 304. Default: none.
 * - `no_content=<method>:<field or oneof path>`: the method answers 204 with no body
 *   when that part of the response is unset. Default: none.
 */
import type { Code } from "@connectrpc/connect";
import { codeNames, type ErrorCodes } from "./error-responses.js";
import type { LicenseObject, ServerObject } from "./openapi-types.js";
import type { HeaderField } from "./request-parameters.js";
import type { EntityTagField, NoContentField, ResponseHeaderField } from "./success-responses.js";

/** The plugin's options, parsed. */
export interface OpenApiPluginOptions {
  readonly packages: readonly string[];
  readonly title: string;
  readonly version: string;
  readonly license: LicenseObject | undefined;
  readonly servers: readonly ServerObject[] | undefined;
  readonly jsonFile: string;
  readonly typesFile: string | undefined;
  readonly bearerAuth: boolean;
  readonly queryCredential: string | undefined;
  readonly headerFields: readonly HeaderField[];
  readonly errorCodes: readonly ErrorCodes[];
  readonly responseHeaders: readonly ResponseHeaderField[];
  readonly entityTags: readonly EntityTagField[];
  readonly noContent: readonly NoContentField[];
}

const knownKeys =
  "package, title, version, license, server, json_file, types_file, bearer_auth, query_credential, header, errors, response_header, etag, no_content";

/** `package.Service.Method`, and a field path in proto names. */
const method = String.raw`([A-Za-z_][\w.]*\.[A-Za-z_]\w*)`;
const fieldPath = String.raw`([A-Za-z_][\w.]*)`;
const headerName = "([A-Za-z0-9-]+)";

/** Parses the request's `parameter`; throws naming an unknown key or a bad value. */
export function parsePluginOptions(parameter: string): OpenApiPluginOptions {
  const options = {
    packages: [] as string[],
    title: "API",
    version: "v1",
    license: undefined as LicenseObject | undefined,
    servers: undefined as ServerObject[] | undefined,
    jsonFile: "openapi.json",
    typesFile: undefined as string | undefined,
    bearerAuth: true,
    queryCredential: undefined as string | undefined,
    headerFields: [] as HeaderField[],
    errorCodes: [] as ErrorCodes[],
    responseHeaders: [] as ResponseHeaderField[],
    entityTags: [] as EntityTagField[],
    noContent: [] as NoContentField[],
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
      case "license":
        options.license = { name: value };
        break;
      case "server":
        (options.servers ??= []).push({ url: value });
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
      case "query_credential":
        options.queryCredential = value;
        break;
      case "header": {
        const [name, header, field] = matchOption(
          key,
          value,
          `^${method}:${headerName}=${fieldPath}$`,
          "<package.Service.Method>:<Header-Name>=<field>",
        );
        options.headerFields.push({ method: name, header, field });
        break;
      }
      case "errors":
        options.errorCodes.push(parseErrorCodes(value));
        break;
      case "response_header": {
        const shape = "<package.Service.Method>:<status>:<Header-Name>=<field>";
        const [name, status, header, field] = matchOption(key, value, `^${method}:([1-5][0-9][0-9]):${headerName}=${fieldPath}$`, shape);
        options.responseHeaders.push({ method: name, status: Number(status), header, field });
        break;
      }
      case "etag": {
        const [name, field] = matchOption(key, value, `^${method}:${fieldPath}$`, "<package.Service.Method>:<field>");
        options.entityTags.push({ method: name, field });
        break;
      }
      case "no_content": {
        const [name, path] = matchOption(key, value, `^${method}:${fieldPath}$`, "<package.Service.Method>:<field or oneof path>");
        options.noContent.push({ method: name, path });
        break;
      }
      default:
        throw new Error(`unknown option "${key}"; known: ${knownKeys}`);
    }
  }
  return options;
}

/** The captured groups of `value` against `pattern`; throws showing `shape` when it does not match. */
function matchOption(key: string, value: string, pattern: string, shape: string): string[] {
  const match = new RegExp(pattern).exec(value);
  if (match === null) throw new Error(`option ${key} must read ${shape}, got "${value}"`);
  return match.slice(1).map((group) => group ?? "");
}

function parseErrorCodes(value: string): ErrorCodes {
  const [selector = "", codes = ""] = matchOption(
    "errors",
    value,
    String.raw`^(\*|[A-Za-z_][\w.]*):([A-Z_ ]+)$`,
    "<selector>:<CODE> <CODE>…",
  );
  const parsed: Code[] = codes
    .split(" ")
    .filter((name) => name !== "")
    .map((name) => {
      const code = codeNames.get(name);
      if (code === undefined) throw new Error(`option errors: unknown gRPC code "${name}"; known: ${[...codeNames.keys()].join(", ")}`);
      return code;
    });
  return { selector, codes: parsed };
}
