/**
 * `runline tenants create <slug>`: creates a tenant through AdminService with the root key.
 */
import { AdminService, CreateTenantResponseSchema } from "../../../gen/runline/v1/admin_service_pb.js";
import type { Command } from "../command.js";

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
