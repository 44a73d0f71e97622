/**
 * The ordered list of migrations. Append new ones; never reorder or edit landed ones.
 */
import { InitialSchema } from "./0001-initial-schema.js";
import { Executors } from "./0002-executors.js";
import { TenantEstimates } from "./0003-tenant-estimates.js";
import { TimeBounds } from "./0004-time-bounds.js";
import { Webhooks } from "./0005-webhooks.js";
import { WebhookHosts } from "./0006-webhook-hosts.js";
import { RerunOf } from "./0007-rerun-of.js";
import { AccessTokens } from "./0008-access-tokens.js";
import { EventPartitions } from "./0009-event-partitions.js";
import { TenantLabels } from "./0010-tenant-labels.js";

/** Every migration, oldest first, as MikroORM's `migrationsList` wants them. */
export const migrations = [
  { name: "0001-initial-schema", class: InitialSchema },
  { name: "0002-executors", class: Executors },
  { name: "0003-tenant-estimates", class: TenantEstimates },
  { name: "0004-time-bounds", class: TimeBounds },
  { name: "0005-webhooks", class: Webhooks },
  { name: "0006-webhook-hosts", class: WebhookHosts },
  { name: "0007-rerun-of", class: RerunOf },
  { name: "0008-access-tokens", class: AccessTokens },
  { name: "0009-event-partitions", class: EventPartitions },
  { name: "0010-tenant-labels", class: TenantLabels },
];
