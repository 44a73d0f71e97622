/**
 * The narrow-queue prototype of the `held-vacuum-raw` group (issue 16, point 4), and the
 * shapes its variants share. A queue row per queued run in `hv_queue` (deleted by the
 * claim) and a lease row in `hv_leases` (inserted by the claim, deleted by the completion,
 * which also sets the wide `runs` record SUCCEEDED); no status events, NOTIFY or webhook
 * outbox. Hinted, each loop first claims at or after the queue position it last claimed
 * (priority, ready_time, id) and scans from the head only when nothing is found there, so
 * the dead entries a held snapshot leaves before that position are not walked. The
 * tables live only in the bench database; the group drops them after.
 */
import type pg from "pg";

/** A job a loop holds: the run and its lease, and where it sat in the queue. */
export interface Job {
  readonly runId: string;
  readonly leaseId: string;
  readonly position: readonly [number, string, string] | undefined;
}

/** One loop's statements for a variant: it claims jobs, then completes them and claims their replacements. */
export interface Worker {
  claim(): Promise<Job[]>;
  completeAndClaim(jobs: readonly Job[]): Promise<Job[]>;
}

/** A way to drain the queue: its name in the table, its set-up, and one loop's statements. */
export interface Variant {
  readonly name: string;
  /** How many loops drain at once, each on its own connection. */
  readonly loops: number;
  /** Makes the queue hold the tenant's QUEUED runs (after the API queued them). */
  prepare(database: pg.Client): Promise<void>;
  worker(client: pg.Client, index: number): Worker;
}

/** The group's tenant and its one workflow. */
export interface Ids {
  readonly tenantId: string;
  readonly workflowId: string;
}

/** A named (prepared) statement for pg's query(). */
export const statement = (name: string, text: string, values: unknown[]) => ({ name, text, values });

// The narrow prototype. Its queue index is the shape of runs_queue_by_workflow.
const narrowSchema = [
  `create table if not exists hv_queue (id bigint generated always as identity primary key, tenant_id uuid not null,
     workflow_id uuid not null, priority int not null, ready_time timestamptz not null, run_id uuid not null)`,
  `create index if not exists hv_queue_order on hv_queue (tenant_id, workflow_id, priority desc, ready_time, id)`,
  `create table if not exists hv_leases (run_id uuid primary key, tenant_id uuid not null, lease_id uuid not null,
     worker_id text not null, expire_time timestamptz not null)`,
];

/** The claim's `q` CTE: the first queued job, from the head or (hinted) at or after :position. */
const pick = (hinted: boolean) => `
  q as (
    select id, run_id, priority, ready_time from hv_queue
    where tenant_id = $1::uuid and workflow_id = $2::uuid and ready_time <= now()
      ${hinted ? "and priority = $4::int and (ready_time, id) >= ($5::timestamptz, $6::bigint)" : ""}
    order by priority desc, ready_time, id limit 1 for update skip locked
  ), gone as (delete from hv_queue g using q where g.id = q.id),
  l as (
    insert into hv_leases (run_id, tenant_id, lease_id, worker_id, expire_time)
    select q.run_id, $1::uuid, gen_random_uuid(), $3::text, now() + interval '5 minutes' from q
    returning run_id, lease_id
  )`;
const claimed = `select l.run_id, l.lease_id, q.priority, q.ready_time::text, q.id::text from l join q on q.run_id = l.run_id`;
/** Completes the loop's job ($run, $lease: its parameter numbers) and sets the wide record SUCCEEDED. */
const finish = (run: number, lease: number) => `
  done as (delete from hv_leases where run_id = $${run}::uuid and lease_id = $${lease}::uuid returning run_id),
  finished as (
    update runs r set status = 'SUCCEEDED', end_time = now(), update_time = now(), result = 'null', last_sequence = r.last_sequence + 1
    from done where r.tenant_id = $1::uuid and r.id = done.run_id returning r.id
  )`;

/** The prototype's variant, drained by `loops` loops of one job each: plain (`hinted` false) or with the position hint. */
export function narrowVariant(ids: Ids, hinted: boolean, loops: number): Variant {
  return {
    name: hinted ? "narrow queue + hint" : "narrow queue",
    loops,
    prepare: async (database) => {
      for (const sql of narrowSchema) await database.query(sql);
      await database.query(
        `insert into hv_queue (tenant_id, workflow_id, priority, ready_time, run_id)
         select tenant_id, workflow_id, priority, ready_time, id from runs where tenant_id = $1::uuid and status = 'QUEUED' order by ready_time, id`,
        [ids.tenantId],
      );
      await database.query("analyze hv_queue");
    },
    worker: (client, index) => {
      const base = [ids.tenantId, ids.workflowId, `raw-${index}`];
      type Row = { run_id: string; lease_id: string; priority: number; ready_time: string; id: string };
      const jobs = (rows: readonly Row[]): Job[] =>
        rows.map((row) => ({ runId: row.run_id, leaseId: row.lease_id, position: [row.priority, row.ready_time, row.id] as const }));
      const claimFromHead = async () => jobs((await client.query<Row>(statement("hv_head", `with ${pick(false)} ${claimed}`, base))).rows);
      return {
        claim: claimFromHead,
        // Finishing and claiming in one statement, as the Work session does; hinted, the
        // claim from the head follows only when nothing was found at the hint.
        completeAndClaim: async ([previous]) => {
          if (!hinted) {
            const text = `with ${finish(4, 5)}, ${pick(false)} ${claimed}`;
            return jobs((await client.query<Row>(statement("hv_finish_head", text, [...base, previous!.runId, previous!.leaseId]))).rows);
          }
          const text = `with ${finish(7, 8)}, ${pick(true)} ${claimed}`;
          const values = [...base, ...previous!.position!, previous!.runId, previous!.leaseId];
          const next = jobs((await client.query<Row>(statement("hv_finish_hinted", text, values))).rows);
          return next.length > 0 ? next : claimFromHead();
        },
      };
    },
  };
}
