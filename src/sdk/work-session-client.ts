/**
 * The worker SDK's side of one WorkerService.Work session: it opens the session, hands
 * each pushed lease to the worker, and matches the server's answers to what was sent.
 * An outcome (`complete`, `fail`) is answered by one `outcome` naming the run, and the
 * worker has at most one outcome per run in flight; a run's `report`s are answered by
 * `reported`, in the order sent, so they wait in one queue per run. Whatever is still
 * unanswered when the session ends is rejected with SessionEnded, for the worker to
 * settle with the unary calls.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type {
  Lease,
  ReportRunEventsRequestSchema,
  StreamAssignmentsRequestSchema,
  WorkerService,
  WorkRequestSchema,
} from "../../gen/runline/v1/worker_service_pb.js";
import { Outbox } from "../outbox.js";

/** An outcome as sent on the session. */
export type OutcomeKind = Extract<MessageInitShape<typeof WorkRequestSchema>["kind"], { case: "complete" | "fail" }>;
/** Events as sent on the session (or as ReportRunEvents). */
export type ReportInit = MessageInitShape<typeof ReportRunEventsRequestSchema> & { runId: string };

/** The open session's sending half. */
export interface Session {
  /** Sends an outcome; resolves on the server's answer, rejects with its refusal or SessionEnded. */
  send(runId: string, kind: OutcomeKind): Promise<void>;
  /** Sends events (a `report`); resolves on the server's answer, rejects with its refusal or SessionEnded. */
  report(request: ReportInit): Promise<void>;
}

/** An open session: `close` half-closes it (the server answers what is pending, then ends it); `done` settles when it has ended. */
export interface OpenSession {
  readonly session: Session;
  close(): void;
  readonly done: Promise<void>;
}

/** The session ended before the server answered a message. */
export class SessionEnded extends Error {}

/** Where the server's answer to one message goes. */
interface Answer {
  resolve(): void;
  reject(error: unknown): void;
}

/** Opens a session with `open`; each lease pushed goes to `onLease` until it ends or `signal` aborts. */
export function openWorkSession(
  workers: Client<typeof WorkerService>,
  open: MessageInitShape<typeof StreamAssignmentsRequestSchema>,
  signal: AbortSignal,
  onLease: (lease: Lease) => void,
): OpenSession {
  const outgoing = new Outbox<MessageInitShape<typeof WorkRequestSchema>>();
  const answers = new Map<string, Answer>();
  const reportAnswers = new Map<string, Answer[]>();
  const session: Session = {
    send: (runId, kind) =>
      new Promise<void>((resolve, reject) => {
        answers.set(runId, { resolve, reject });
        outgoing.push({ kind });
      }),
    report: (request) =>
      new Promise<void>((resolve, reject) => {
        reportAnswers.set(request.runId, [...(reportAnswers.get(request.runId) ?? []), { resolve, reject }]);
        outgoing.push({ kind: { case: "report", value: request } });
      }),
  };
  outgoing.push({ kind: { case: "open", value: open } });
  const done = (async () => {
    try {
      for await (const { kind } of workers.work(outgoing.drain(), { signal })) {
        if (kind.case === "assigned") {
          for (const lease of kind.value.leases) onLease(lease);
        } else if (kind.case === "outcome") {
          const answer = answers.get(kind.value.runId);
          answers.delete(kind.value.runId);
          settle(answer, kind.value.error);
        } else if (kind.case === "reported") {
          const [answer, ...rest] = reportAnswers.get(kind.value.runId) ?? [];
          if (rest.length === 0) reportAnswers.delete(kind.value.runId);
          else reportAnswers.set(kind.value.runId, rest);
          settle(answer, kind.value.error);
        }
      }
    } finally {
      outgoing.end();
      for (const answer of [...answers.values(), ...[...reportAnswers.values()].flat()]) answer.reject(new SessionEnded());
    }
  })();
  return { session, close: () => outgoing.end(), done };
}

/** Resolves `answer`, or rejects it with the refusal the server sent. */
function settle(answer: Answer | undefined, refused: { code: string; message: string } | undefined): void {
  if (refused === undefined) answer?.resolve();
  else answer?.reject(new ConnectError(refused.message, codeNamed(refused.code)));
}

/** "failed_precondition" → Code.FailedPrecondition (Code.Unknown for a name it does not know). */
function codeNamed(name: string): Code {
  const key = name.replace(/(^|_)([a-z])/g, (_match, _separator: string, letter: string) => letter.toUpperCase());
  const code = (Code as unknown as Record<string, Code | undefined>)[key];
  return typeof code === "number" ? code : Code.Unknown;
}
