/**
 * `runline keys create|list|revoke`: a tenant's API keys, managed with the root key.
 * A new key's secret is printed once; the server keeps only its hash.
 */
import {
  AdminService,
  CreateApiKeyResponseSchema,
  ListApiKeysResponseSchema,
  RevokeApiKeyResponseSchema,
  Scope,
  type ApiKey,
} from "../../../gen/runline/v1/admin_service_pb.js";
import { splitList } from "../argument-values.js";
import { UsageError } from "../cli-errors.js";
import type { Command, OptionSpec } from "../command.js";
import { formatTime } from "../run-format.js";

const tenantOption: OptionSpec = { name: "tenant", type: "string", value: "<id|slug>", help: "the tenant the key belongs to (required)" };

const scopeNames = ["read", "write", "worker", "admin"] as const;

function parseScopes(text: string): Scope[] {
  return splitList([text]).map((name) => {
    const index = scopeNames.indexOf(name.toLowerCase().replace(/^scope_/, "") as (typeof scopeNames)[number]);
    if (index < 0) throw new UsageError(`--scopes: unknown scope "${name}" (one of ${scopeNames.join(", ")})`);
    return [Scope.READ, Scope.WRITE, Scope.WORKER, Scope.ADMIN][index]!;
  });
}

function scopeList(key: ApiKey): string {
  return key.scopes.map((scope) => (Scope[scope] ?? String(scope)).toLowerCase()).join(",");
}

/** `keys create`. */
export const createKeyCommand: Command = {
  path: ["keys", "create"],
  summary: "create an API key for a tenant and print its secret once (root key)",
  positionals: [],
  options: [
    tenantOption,
    { name: "scopes", type: "string", value: "<list>", help: `comma-separated scopes: ${scopeNames.join(", ")} (required)` },
    { name: "name", type: "string", value: "<text>", help: "a display name for the key" },
  ],
  key: "root",
  async run({ args, out, connect }) {
    const request = {
      tenant: args.required("tenant"),
      scopes: parseScopes(args.required("scopes")),
      displayName: args.string("name") ?? "",
    };
    const response = await connect().client(AdminService).createApiKey(request);
    if (out.json) return out.message(CreateApiKeyResponseSchema, response);
    out.line(`created key ${response.apiKey!.id} (scopes ${scopeList(response.apiKey!)}); its secret, shown only now:`);
    out.line(response.secret);
  },
};

/** `keys list`. */
export const listKeysCommand: Command = {
  path: ["keys", "list"],
  summary: "list a tenant's API keys (root key)",
  positionals: [],
  options: [tenantOption],
  key: "root",
  async run({ args, out, connect }) {
    const response = await connect()
      .client(AdminService)
      .listApiKeys({ tenant: args.required("tenant") });
    if (out.json) return out.message(ListApiKeysResponseSchema, response);
    out.table(
      ["ID", "NAME", "SCOPES", "CREATED", "REVOKED"],
      response.apiKeys.map((key) => [
        key.id,
        key.displayName || "-",
        scopeList(key),
        formatTime(key.createTime),
        formatTime(key.revokeTime),
      ]),
    );
  },
};

/** `keys revoke`. */
export const revokeKeyCommand: Command = {
  path: ["keys", "revoke"],
  summary: "revoke an API key (root key)",
  positionals: ["key-id"],
  options: [tenantOption],
  key: "root",
  async run({ args, out, connect }) {
    const response = await connect()
      .client(AdminService)
      .revokeApiKey({ tenant: args.required("tenant"), apiKeyId: args.positionals[0]! });
    if (out.json) return out.message(RevokeApiKeyResponseSchema, response);
    out.line(`revoked key ${response.apiKey!.id} at ${formatTime(response.apiKey!.revokeTime)}`);
  },
};
