/**
 * Prometheus metrics (prom-client), one registry per server so several servers in one
 * process (tests) never mix their series. RPC counters and histograms are recorded by
 * the call interceptor; run, queue and pool figures are read from Postgres or the pool
 * when /metrics is scraped, so they cost nothing between scrapes. The exposition passes
 * `promtool check metrics` (test/ops/promtool.test.ts): only counters end in `_total`,
 * and no family mixes a limit with the usage it bounds, so every family sums sensibly.
 */
import type { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Sql } from "../db/database.js";
import type { TailCensus } from "../events/shared-tail.js";
import { oldestDueSeconds } from "../webhooks/delivery-queries.js";

/** The metrics a server records. */
export interface Metrics {
  readonly registry: Registry;
  /**
   * Records one finished call, `code` undefined when it succeeded; `protocol` as
   * api/protocol-label.ts names it (REST calls are `rest`).
   */
  recordCall(procedure: string, protocol: string, code: Code | undefined, seconds: number): void;
  /** Counts a server stream open (+1) or closed (−1). */
  trackStream(procedure: string, delta: 1 | -1): void;
  /** Counts leases the sweeper expired. */
  recordLeaseExpiries(count: number): void;
  /** Records one webhook attempt: its duration, and the delivery's outcome when it ended (not when retried). */
  recordWebhookAttempt(outcome: "PENDING" | "SUCCEEDED" | "FAILED", seconds: number): void;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
}

/** Where scrape-time figures come from. */
export interface MetricsSources {
  readonly sql: Sql;
  /** Connections in use and the pool's size. */
  readonly pool: () => { inUse: number; size: number };
  /** The shared tails' retained events and read counts (events/shared-tail.ts). */
  readonly streamTails: () => TailCensus;
}

// Cross-tenant aggregates, read at scrape time only.
/** Below this many runs, finished runs are counted exactly (a scan of at most ≈ 40 MB). */
const exactBelow = 100_000;
/**
 * The runline_runs gauge's statement (exported for the `scale` bench, which times it).
 * Live statuses are counted exactly, each through an index that holds few rows:
 * runs_ready_due, runs_schedule_due, runs_lease_expiry (partial) and runs_by_status
 * (skipping over tenants) for INTERRUPTED. Finished runs are most of the table: counting
 * them read all 5M runs of the scale bench at every scrape (≈ 2 s; the gauge's first form,
 * `count(*) … group by status`, kept as `runsByStatusCounted`). Once runs holds
 * `exactBelow` rows (by the planner's reltuples), they are estimated from the statistics
 * autovacuum keeps: reltuples × each status' frequency in pg_stats.
 */
export const runsByStatus = `
  with size as (select greatest(c.reltuples, 0) as rows from pg_class c where c.oid = 'runs'::regclass)
  select 'QUEUED' as status, count(*)::bigint as count from runs where status = 'QUEUED'
  union all select 'SCHEDULED', count(*)::bigint from runs where status = 'SCHEDULED'
  union all select status, count(*)::bigint from runs where status in ('RUNNING', 'CANCELLING') group by status
  union all select 'INTERRUPTED', count(*)::bigint from runs where status = 'INTERRUPTED'
  union all select status, count(*)::bigint from runs
    where status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT') and (select rows from size) < ${exactBelow}
    group by status
  union all select v.status, round((select rows from size) * v.frequency)::bigint
    from pg_stats s, unnest(s.most_common_vals::text::text[], s.most_common_freqs) v(status, frequency)
    where s.schemaname = current_schema() and s.tablename = 'runs' and s.attname = 'status' and not s.inherited
      and v.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT') and (select rows from size) >= ${exactBelow}`;
/** The runline_runs gauge's first statement: exact, and a scan of every run (the `scale` bench's before). */
export const runsByStatusCounted = `select status, count(*)::bigint as count from runs group by status`;
/**
 * The queue gauges' statement (exported for the `scale` bench, which times it). QUEUED
 * runs are counted per (tenant_id, workflow_id) in the order of runs_queue_by_workflow,
 * and only the groups are joined to their names: joined first, every queued run was
 * sorted by the two slugs (text, by collation), 24,723 of them in 30 of the 63 ms the
 * statement took with the scale bench's 5M runs.
 */
export const queueByWorkflow = `
  select t.slug as tenant, w.slug as workflow, q.depth,
         extract(epoch from now() - q.oldest)::float8 as oldest
  from (
    select r.tenant_id, r.workflow_id, count(*)::bigint as depth, min(r.ready_time) as oldest
    from runs r
    where r.status = 'QUEUED' and r.ready_time <= now()
    group by r.tenant_id, r.workflow_id
  ) q
  join workflows w on w.tenant_id = q.tenant_id and w.id = q.workflow_id
  join tenants t on t.id = q.tenant_id`;
/** The queue gauges' first statement, joined before grouping (the `scale` bench's before). */
export const queueByWorkflowJoinedFirst = `
  select t.slug as tenant, w.slug as workflow, count(*)::bigint as depth,
         extract(epoch from now() - min(r.ready_time))::float8 as oldest
  from runs r
  join workflows w on w.tenant_id = r.tenant_id and w.id = r.workflow_id
  join tenants t on t.id = r.tenant_id
  where r.status = 'QUEUED' and r.ready_time <= now()
  group by t.slug, w.slug`;
/**
 * The `code` label (and a call log's `code`) of a call: `ok`, or the gRPC code's name as
 * the Connect protocol writes it (`not_found`, `invalid_argument`, `canceled` …), so one
 * vocabulary serves every protocol and matches what Connect and REST clients see.
 */
export function codeLabel(code: Code | undefined): string {
  return code === undefined ? "ok" : codeToString(code);
}

// prom-client also exports these gauges with a `_total` suffix, which promtool refuses
// (only counters end in `_total`) and which only repeat the sum of the by-type family
// of the same name without it: sum(runline_nodejs_active_handles) is the total.
const redundantDefaultTotals = ["handles", "requests", "resources"].map((kind) => `runline_nodejs_active_${kind}_total`);

/** Creates the registry and its metrics. */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "runline_" });
  for (const name of redundantDefaultTotals) registry.removeSingleMetric(name);
  const calls = new Counter({
    name: "runline_rpc_requests_total",
    help: "RPCs handled, by procedure, protocol (grpc, grpc-web, connect, rest) and code (ok, not_found, canceled, ...).",
    labelNames: ["procedure", "protocol", "code"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "runline_rpc_duration_seconds",
    help: "RPC duration (server streams: until the stream ends), by procedure, protocol and code.",
    labelNames: ["procedure", "protocol", "code"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const streams = new Gauge({
    name: "runline_active_streams",
    help: "Server streams open now, by procedure.",
    labelNames: ["procedure"],
    registers: [registry],
  });
  const leaseExpiries = new Counter({
    name: "runline_lease_expiries_total",
    help: "Leases the sweeper expired (executor stopped heartbeating).",
    registers: [registry],
  });
  new Gauge({
    name: "runline_runs",
    help: "Runs by status (all tenants); above 100,000 runs, finished statuses are estimated from table statistics.",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await sources.sql.query<{ status: string; count: string }>(runsByStatus))
        this.set({ status: row.status }, Number(row.count));
    },
  });
  // One query serves both queue gauges: prom-client starts every collector of a scrape in
  // the same turn, so both await the same in-flight read. It is forgotten as soon as it
  // settles: kept 50 ms longer, a scrape right after another (tests scrape before and
  // after creating runs) got the earlier scrape's queue.
  type QueueRow = { tenant: string; workflow: string; depth: string; oldest: number };
  let queueRead: Promise<QueueRow[]> | undefined;
  const readQueue = () => {
    queueRead ??= sources.sql.query<QueueRow>(queueByWorkflow).finally(() => (queueRead = undefined));
    return queueRead;
  };
  new Gauge({
    name: "runline_queue_depth",
    help: "Claimable QUEUED runs, by tenant and workflow.",
    labelNames: ["tenant", "workflow"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await readQueue()) this.set({ tenant: row.tenant, workflow: row.workflow }, Number(row.depth));
    },
  });
  new Gauge({
    name: "runline_queue_oldest_age_seconds",
    help: "Age of the oldest claimable run, by tenant and workflow.",
    labelNames: ["tenant", "workflow"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await readQueue()) this.set({ tenant: row.tenant, workflow: row.workflow }, Math.max(0, row.oldest));
    },
  });
  const webhookDeliveries = new Counter({
    name: "runline_webhook_deliveries_total",
    help: "Webhook deliveries ended, by outcome (succeeded, failed).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const webhookAttempts = new Histogram({
    name: "runline_webhook_attempt_duration_seconds",
    help: "Duration of each webhook attempt (resolve, connect, send, read the answer).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new Gauge({
    name: "runline_webhook_oldest_pending_seconds",
    help: "How long the oldest due webhook delivery has waited to be sent (0 when none).",
    registers: [registry],
    async collect() {
      this.set(Math.max(0, await oldestDueSeconds(sources.sql)));
    },
  });
  // The limit is a family of its own: beside the usage states, a sum over `state` (or a
  // dashboard stacking it) would count it as connections.
  new Gauge({
    name: "runline_db_pool_connections",
    help: "Postgres pool connections, by state (in_use: held by a statement or a transaction).",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "in_use" }, sources.pool().inUse);
    },
  });
  new Gauge({
    name: "runline_db_pool_max_connections",
    help: 'The Postgres pool\'s size (RUNLINE_DB_POOL_SIZE), the ceiling of runline_db_pool_connections{state="in_use"}.',
    registers: [registry],
    collect() {
      this.set(sources.pool().size);
    },
  });
  registerTailMetrics(registry, sources.streamTails);
  return {
    registry,
    recordCall(procedure, protocol, code, seconds) {
      const labels = { procedure, protocol, code: codeLabel(code) };
      calls.inc(labels);
      latency.observe(labels, seconds);
    },
    trackStream(procedure, delta) {
      streams.inc({ procedure }, delta);
    },
    recordLeaseExpiries(count) {
      if (count > 0) leaseExpiries.inc(count);
    },
    recordWebhookAttempt(outcome, seconds) {
      webhookAttempts.observe(seconds);
      if (outcome !== "PENDING") webhookDeliveries.inc({ outcome: outcome.toLowerCase() });
    },
    render: () => registry.metrics(),
  };
}

/**
 * The shared tails (events/shared-tail.ts): how many runs are watched, what their
 * retained windows hold (bounded per run, so this is the memory the crowd shares), and
 * how many batches were read by the tails versus by callers replaying on their own: the
 * first grows with events and watched runs, the second with callers that resume or lag.
 */
function registerTailMetrics(registry: Registry, census: () => TailCensus): void {
  const gauge = (name: string, help: string, value: (figures: TailCensus) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(census()));
      },
    });
  gauge(
    "runline_stream_tails",
    "Runs with a shared tail in this process (watched by at least one StreamRunEvents caller).",
    (c) => c.tails,
  );
  gauge(
    "runline_stream_tail_parked",
    "StreamRunEvents callers parked at their run's shared tail, to be pushed its next batch (the push path, api/run-event-push.ts).",
    (c) => c.parked,
  );
  gauge("runline_stream_tail_retained_events", "Events kept in memory by the shared tails, all runs.", (c) => c.retainedEvents);
  gauge("runline_stream_tail_retained_bytes", "Bytes of event JSON kept in memory by the shared tails, all runs.", (c) => c.retainedBytes);
  // Counted by the tails since start; a scrape sets the counter to their total.
  new Counter({
    name: "runline_stream_event_reads_total",
    help: "Event batches read from Postgres for streams: by a run's shared tail (reader=tail) or by a caller behind it (reader=replay).",
    labelNames: ["reader"],
    registers: [registry],
    collect() {
      const figures = census();
      this.reset();
      this.inc({ reader: "tail" }, figures.tailReads);
      this.inc({ reader: "replay" }, figures.replayReads);
    },
  });
  new Counter({
    name: "runline_stream_carried_batches_total",
    help: "Event batches the shared tails took from the NOTIFY hints that carried them, without reading Postgres.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(census().carriedBatches);
    },
  });
}
