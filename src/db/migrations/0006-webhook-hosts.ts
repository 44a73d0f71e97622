/**
 * Migration 0006: deliveries found by target host (issue 13's bench). The dispatcher
 * claims due deliveries for each host that has room (webhooks/delivery-writes.ts); with
 * one index ordered by due time only, a host at its concurrency bound with a backlog made
 * every claim read past all of that host's rows to find the others. `host` (host[:port]
 * of the URL, lowercase) is computed by Postgres from `url`, and
 * webhook_deliveries_host_due orders the pending rows by host, then due time, so a claim
 * visits each host with pending rows once and reads only as many as it takes.
 * It replaces webhook_deliveries_due, so a delivery still maintains four indexes.
 * The table's fillfactor leaves room in each page, so the claim's update (the lease, a
 * column no index holds) can be a HOT update that writes no index entry.
 * Forward-only: never edited once landed.
 */
import { Migration } from "@mikro-orm/migrations";

/** The host column and its pending-by-host index. */
export class WebhookHosts extends Migration {
  override name = "0006-webhook-hosts";

  override up(): void {
    this.addSql(`
      alter table webhook_deliveries add column host text not null
        generated always as (lower(substring(url from '^[^:]+://(?:[^@/?#]*@)?([^/?#]*)'))) stored`);
    this.addSql(`
      create index webhook_deliveries_host_due on webhook_deliveries (host, next_attempt_time) where outcome = 'PENDING'`);
    this.addSql(`drop index webhook_deliveries_due`);
    this.addSql(`alter table webhook_deliveries set (fillfactor = 70)`);
  }
}
