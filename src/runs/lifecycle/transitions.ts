/**
 * The run lifecycle as one declared table: every way a run's status changes, what the
 * change writes, and what guards it. Every statement that changes a status is built
 * from an entry here (transition-sql.ts and the statement modules beside it), so this
 * table is the one place to read, or change, what a transition does.
 *
 * SQL in the entries qualifies the run's columns with `r.` (the row before the change)
 * and names its parameters `:name` (named-statement.ts); a few read a column of the
 * statement that applies them (`t.output`, `slot.worker_id`), as noted beside them.
 */
import { maxDurationMs } from "../../proto-ranges.js";
import { runStatuses, type RunStatus } from "../run-status.js";
import { retryReadyTimeSql } from "./retry-delay.js";

/** One possible result of a transition; the first whose conditions hold applies. */
export interface Outcome {
  /** Only for runs in this status (default: any of the transition's from-statuses). */
  readonly from?: RunStatus;
  /** An SQL condition on top of `from` (default: none). */
  readonly when?: string;
  readonly to: RunStatus;
}

/** A transition of the table. */
export interface Transition {
  /** The statuses it applies to; empty for `create` (the run is new). */
  readonly from: readonly RunStatus[];
  /** What the status becomes; the last outcome has no condition. */
  readonly outcomes: readonly Outcome[];
  /** A further guard beyond the from-statuses, in the WHERE (default: none). */
  readonly where?: string;
  /** True when the executor's lease fences it: a stale lease matches no row. */
  readonly fenced: boolean;
  /** Columns it sets besides status, update_time and last_sequence: column → SQL. */
  readonly set: Readonly<Record<string, string>>;
  /** The `data` of the `status` run event it writes (SQL over the new row), or null. */
  readonly eventData: string;
  /** False only for `create`: nobody can be subscribed to a run that did not exist. */
  readonly notifies: boolean;
}

/**
 * Timeouts past protobuf's largest Duration (10,000 years) count as that much when the
 * claim sets the deadline. A larger stored value (written before CreateRun bounded it)
 * would overflow the interval and fail the whole claim statement, for every claimer of
 * the queue, every time; clamped, the run is claimed and then failed as undeliverable
 * (api/lease-delivery.ts).
 */
const maxTimeoutMs = maxDurationMs;
const clearLease = { lease_id: "null", lease_expire_time: "null" } as const;
const retryReadyTime = retryReadyTimeSql("r.");
/** The failed attempt goes back to the queue (FailRun with retryable, attempts left). */
const retrying = "r.status <> 'CANCELLING' and :retryable and r.attempt < r.max_attempts";
/** The lost lease goes back to the queue (attempts left). */
const requeuedAfterExpiry = "r.status = 'RUNNING' and r.attempt < r.max_attempts";

/** The table; see the module comment. */
export const transitions = {
  /** CreateRun: a new run waits in the queue, or for its schedule_time. */
  create: {
    from: [],
    outcomes: [{ when: ":scheduleTime > now()", to: "SCHEDULED" }, { to: "QUEUED" }],
    fenced: false,
    set: {},
    eventData: "null",
    notifies: false,
  },
  /** The sweeper: a scheduled run's time came. */
  schedule: {
    from: ["SCHEDULED"],
    where: "r.schedule_time <= now()",
    outcomes: [{ to: "QUEUED" }],
    // Clearing a lease it cannot hold keeps the sweeper's statements alike.
    fenced: false,
    set: { ready_time: "now()", ...clearLease },
    eventData: "null",
    notifies: true,
  },
  /** ClaimRuns, Work, StreamAssignments: an executor takes a queued run under a new lease (slot: the claimer's terms). */
  claim: {
    from: ["QUEUED"],
    where: "r.ready_time <= now()",
    outcomes: [{ to: "RUNNING" }],
    fenced: false,
    set: {
      attempt: "r.attempt + 1",
      lease_id: "gen_random_uuid()",
      lease_duration_ms: "slot.lease_ms",
      lease_expire_time: "now() + slot.lease_ms * interval '1 millisecond'",
      worker_id: "slot.worker_id",
      start_time: "coalesce(r.start_time, now())",
      deadline_time: `coalesce(r.deadline_time, now() + least(r.timeout_ms, ${maxTimeoutMs}) * interval '1 millisecond')`,
      cancel_requested: "false",
    },
    eventData: "jsonb_build_object('attempt', attempt, 'workerId', worker_id)",
    notifies: true,
  },
  /** CompleteRun (t.output: the call's output). A CANCELLING run that completes was stopped by the cancellation. */
  complete: {
    from: ["RUNNING", "CANCELLING"],
    outcomes: [{ from: "CANCELLING", to: "CANCELLED" }, { to: "SUCCEEDED" }],
    fenced: true,
    set: { result: "case when r.status = 'CANCELLING' then null else t.output end", end_time: "now()", ...clearLease },
    eventData: "null",
    notifies: true,
  },
  /** FailRun: retryable with attempts left, back to the queue after backoff (retry-delay.ts). */
  fail: {
    from: ["RUNNING", "CANCELLING"],
    outcomes: [
      { from: "CANCELLING", to: "CANCELLED" },
      { when: ":retryable and r.attempt < r.max_attempts", to: "QUEUED" },
      { to: "FAILED" },
    ],
    fenced: true,
    set: {
      ready_time: `case when ${retrying} then ${retryReadyTime} else r.ready_time end`,
      end_time: `case when ${retrying} then null else now() end`,
      error: ":error",
      ...clearLease,
    },
    eventData: "jsonb_build_object('error', :error, 'attempt', attempt)",
    notifies: true,
  },
  /** ReleaseRun: the lease handed back; the attempt too (attempt − 1), so the next claim counts it again. */
  release: {
    from: ["RUNNING", "CANCELLING"],
    outcomes: [{ from: "CANCELLING", to: "CANCELLED" }, { to: "QUEUED" }],
    fenced: true,
    set: {
      attempt: "case when r.status = 'CANCELLING' then r.attempt else r.attempt - 1 end",
      ready_time: "now()",
      end_time: "case when r.status = 'CANCELLING' then now() else null end",
      ...clearLease,
    },
    eventData: "jsonb_build_object('reason', 'released')",
    notifies: true,
  },
  /** InterruptRun: only a RUNNING run pauses; a CANCELLING one must stop instead. */
  interrupt: {
    from: ["RUNNING"],
    outcomes: [{ to: "INTERRUPTED" }],
    fenced: true,
    set: { interrupt: ":interrupt", resume_input: "null", ...clearLease },
    eventData: "jsonb_build_object('interruptId', :interrupt->>'id', 'reason', :interrupt->>'reason')",
    notifies: true,
  },
  /** ResumeRun: continues the interrupted attempt (the next claim counts it again), once per interrupt. */
  resume: {
    from: ["INTERRUPTED"],
    where: "r.interrupt->>'id' = :interruptId",
    outcomes: [{ to: "QUEUED" }],
    fenced: false,
    set: { attempt: "greatest(r.attempt - 1, 0)", resume_input: ":input", ready_time: "now()" },
    eventData: "jsonb_build_object('resumedInterruptId', :interruptId)",
    notifies: true,
  },
  /** CancelRun: a RUNNING run's executor learns it on its next heartbeat; the others stop at once. */
  cancel: {
    from: ["QUEUED", "SCHEDULED", "INTERRUPTED", "RUNNING"],
    outcomes: [{ from: "RUNNING", to: "CANCELLING" }, { to: "CANCELLED" }],
    fenced: false,
    set: { cancel_requested: "true", end_time: "case when r.status = 'RUNNING' then null else now() end" },
    eventData: "jsonb_build_object('reason', :reason)",
    notifies: true,
  },
  /** The sweeper: a CANCELLING run that outlived the grace period. update_time is when it became CANCELLING. */
  cancelGraceEnded: {
    from: ["CANCELLING"],
    where: "r.update_time < now() - :cancelGraceMs * interval '1 millisecond'",
    outcomes: [{ to: "CANCELLED" }],
    fenced: false,
    set: { end_time: "now()", worker_id: "null", ...clearLease },
    eventData: "jsonb_build_object('reason', 'cancel_grace_period_ended')",
    notifies: true,
  },
  /** The sweeper: the executor stopped heartbeating. Back to the queue after backoff, or TIMED_OUT when no attempt is left. */
  leaseExpired: {
    from: ["RUNNING", "CANCELLING"],
    where: "r.lease_expire_time < now()",
    outcomes: [{ from: "CANCELLING", to: "CANCELLED" }, { when: "r.attempt < r.max_attempts", to: "QUEUED" }, { to: "TIMED_OUT" }],
    fenced: false,
    set: {
      ready_time: `case when ${requeuedAfterExpiry} then ${retryReadyTime} else r.ready_time end`,
      end_time: `case when ${requeuedAfterExpiry} then null else now() end`,
      error: `case when r.status = 'RUNNING' and r.attempt >= r.max_attempts
     then jsonb_build_object('message', 'the executor stopped heartbeating and no attempts are left', 'code', 'LEASE_EXPIRED') else r.error end`,
      worker_id: "null",
      ...clearLease,
    },
    eventData: "jsonb_build_object('reason', 'lease_expired', 'attempt', attempt)",
    notifies: true,
  },
  /** The sweeper: the run's deadline (first start + timeout) passed. */
  timeout: {
    from: ["QUEUED", "RUNNING", "INTERRUPTED", "CANCELLING"],
    where: "r.deadline_time < now()",
    outcomes: [{ to: "TIMED_OUT" }],
    fenced: false,
    set: {
      end_time: "now()",
      worker_id: "null",
      error: "jsonb_build_object('message', 'the run exceeded its timeout', 'code', 'RUN_TIMEOUT')",
      ...clearLease,
    },
    eventData: "jsonb_build_object('reason', 'timeout')",
    notifies: true,
  },
} as const satisfies Record<string, Transition>;

/** A transition's name. */
export type TransitionName = keyof typeof transitions;

/** The statuses a transition can lead to from `status` (none when it does not apply). */
export function outcomesFrom(transition: Transition, status: RunStatus): RunStatus[] {
  if (!transition.from.includes(status)) return [];
  const reached: RunStatus[] = [];
  for (const outcome of transition.outcomes) {
    if (outcome.from !== undefined && outcome.from !== status) continue;
    if (!reached.includes(outcome.to)) reached.push(outcome.to);
    if (outcome.when === undefined) break;
  }
  return reached;
}

/** Allowed changes, from → to, as the table makes them (derived, never listed by hand). */
export const allowedTransitions: ReadonlyMap<RunStatus, readonly RunStatus[]> = new Map(
  runStatuses.map((status) => [
    status,
    runStatuses.filter((to) => Object.values(transitions).some((transition: Transition) => outcomesFrom(transition, status).includes(to))),
  ]),
);
