/**
 * Where the CLI sends its calls and with which key: `--server`/`RUNLINE_SERVER`
 * (default http://localhost:8080) and `--key`/`RUNLINE_API_KEY` (admin commands try
 * `RUNLINE_ROOT_KEY` first). Calls go over Connect with the binary format on HTTP/1.1,
 * which every deployment of the server and any proxy in front of it speaks.
 */
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CliError, UsageError } from "./cli-errors.js";
import { exitCodes } from "./exit-codes.js";

/** Which key a command sends: a tenant's (`RUNLINE_API_KEY`), the root key (`RUNLINE_ROOT_KEY` first), or none. */
export type KeyKind = "tenant" | "root" | "none";

/** The server the CLI talks to when neither --server nor RUNLINE_SERVER says. */
export const defaultServer = "http://localhost:8080";

/** A server and key, ready to make typed clients. */
export interface Connection {
  /** The server's base URL (named in "cannot reach" errors). */
  readonly server: string;
  /** The key sent as `Authorization: Bearer`. */
  readonly apiKey: string;
  /** A typed client of `service`. */
  client<S extends DescService>(service: S): Client<S>;
}

/** What the command line and the environment say. */
export interface ConnectionSettings {
  readonly server: string | undefined;
  readonly key: string | undefined;
  readonly env: NodeJS.ProcessEnv;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** The server URL to use, checked, without a trailing slash. */
export function resolveServer(settings: ConnectionSettings): string {
  const server = nonEmpty(settings.server) ?? nonEmpty(settings.env.RUNLINE_SERVER) ?? defaultServer;
  if (!/^https?:\/\/[^/]/.test(server)) throw new UsageError(`--server: expected an http:// or https:// URL, got "${server}"`);
  return server.replace(/\/+$/, "");
}

function resolveKey(settings: ConnectionSettings, kind: KeyKind): string {
  const fromEnv =
    kind === "root"
      ? (nonEmpty(settings.env.RUNLINE_ROOT_KEY) ?? nonEmpty(settings.env.RUNLINE_API_KEY))
      : nonEmpty(settings.env.RUNLINE_API_KEY);
  const key = nonEmpty(settings.key) ?? fromEnv;
  if (key === undefined) {
    const variables = kind === "root" ? "RUNLINE_ROOT_KEY or RUNLINE_API_KEY" : "RUNLINE_API_KEY";
    throw new CliError("unauthenticated", `no API key: pass --key or set ${variables}`, exitCodes.auth);
  }
  return key;
}

function bearer(key: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
}

/** Resolves server and key (throwing a one-line error for either) and returns a connection. */
export function openConnection(settings: ConnectionSettings, kind: KeyKind): Connection {
  const server = resolveServer(settings);
  const apiKey = resolveKey(settings, kind);
  const transport = createConnectTransport({ baseUrl: server, httpVersion: "1.1", useBinaryFormat: true, interceptors: [bearer(apiKey)] });
  return { server, apiKey, client: (service) => createClient(service, transport) };
}
