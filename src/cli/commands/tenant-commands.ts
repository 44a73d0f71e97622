/**
 * `runline tenants create|get|update`: tenants and their retention, through AdminService
 * with the root key.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { Duration } from "@bufbuild/protobuf/wkt";
import {
  AdminService,
  CreateTenantResponseSchema,
  GetTenantResponseSchema,
  UpdateTenantResponseSchema,
  type Tenant,
} from "../../../gen/runline/v1/admin_service_pb.js";
import { parseDurationArgument } from "../argument-values.js";
import type { Command } from "../command.js";
import type { Output } from "../output.js";
import { formatTime } from "../run-format.js";

/** `tenants create`. */
export const createTenantCommand: Command = {
  path: ["tenants", "create"],
  summary: "create a tenant (root key)",
  positionals: ["slug"],
  options: [],
  key: "root",
  async run({ args, out, connect }) {
    const response = await connect().client(AdminService).createTenant({ slug: args.positionals[0]! });
    if (out.json) return out.message(CreateTenantResponseSchema, response);
    out.line(`created tenant ${response.tenant!.slug} (${response.tenant!.id})`);
  },
};

/** A retention as people write it: `forever`, or whole days, hours, minutes or seconds. */
function retentionText(retention: Duration | undefined): string {
  const seconds = Number(retention?.seconds ?? 0n);
  if (seconds === 0) return "forever (0)";
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
  ] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function printTenant(out: Output, tenant: Tenant): void {
  out.table(
    ["ID", "SLUG", "CREATED", "RETENTION"],
    [[tenant.id, tenant.slug, formatTime(tenant.createTime), retentionText(tenant.retention)]],
  );
}

/** `tenants get`. */
export const getTenantCommand: Command = {
  path: ["tenants", "get"],
  summary: "show a tenant and its retention (root key)",
  positionals: ["tenant"],
  options: [],
  key: "root",
  async run({ args, out, connect }) {
    const response = await connect().client(AdminService).getTenant({ tenant: args.positionals[0]! });
    if (out.json) return out.message(GetTenantResponseSchema, response);
    printTenant(out, response.tenant!);
  },
};

/** `tenants update`. */
export const updateTenantCommand: Command = {
  path: ["tenants", "update"],
  summary: "change a tenant's retention (root key)",
  positionals: ["tenant"],
  options: [
    {
      name: "retention",
      type: "string",
      value: "<duration|0>",
      help: "how long finished runs are kept after they end, e.g. 30d or 36h (1d to 3660d); 0 keeps them forever (required)",
    },
  ],
  key: "root",
  notes: "A live run is never deleted. Finished runs past the new period go at the server's next retention pass.",
  async run({ args, out, connect }) {
    const text = args.required("retention");
    const retention = text.trim() === "0" ? durationFromMs(0) : parseDurationArgument("retention", text, { max: "3660d" });
    const response = await connect()
      .client(AdminService)
      .updateTenant({ tenant: { id: args.positionals[0]!, retention }, updateMask: { paths: ["retention"] } });
    if (out.json) return out.message(UpdateTenantResponseSchema, response);
    printTenant(out, response.tenant!);
  },
};
