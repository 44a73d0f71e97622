/**
 * StreamRunEvents served by push (issue 14, goal (c)): Connect streaming, gRPC and
 * gRPC-web calls the push path speaks (http/push-stream.ts) are taken before connect-es's
 * router, and an idle stream is parked at its run's shared tail (events/shared-tail.ts)
 * as a listener: no generator, promise or timer of its own. Each batch the tail reads is
 * encoded once per codec and the same frame written to every parked stream; a stream
 * whose transport buffer is full is unparked, waits for 'drain' (or is reset as stalled,
 * universal-response-writer.ts's bound), then catches up from the retained tail or
 * Postgres by cursor and parks again, so it never holds back the others.
 *
 * The guarantees are those of the connect-es path, through the same functions: the auth
 * check and call record (interceptors.ts), access restrictions (checkRunAllowed, as
 * access-restrictions.ts's rule for this method), request validation, error mapping,
 * the run's start (openRunEvents) and end (endsStream), UNAVAILABLE at shutdown, the
 * caller's deadline, and a token stream's end at its expiry or revocation (checked for
 * every such stream by one timer each second, as token-streams.ts checks each one).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { StreamRunEventsRequestSchema, StreamRunEventsResponseSchema } from "../../gen/runline/v1/runs_service_pb.js";
import type { AppContext } from "../app-context.js";
import { checkRunAllowed } from "../auth/access-restriction.js";
import type { Caller } from "../auth/caller.js";
import { invalidArgument } from "../errors.js";
import { endsStream, openRunEvents } from "../events/run-event-stream.js";
import type { TailBatch, TailListener, TailMember } from "../events/shared-tail.js";
import type { HttpRequest, HttpResponse } from "../http/handler-chain.js";
import { endPushCall, frameMessage, pushCallOf, readRequestMessage, writePushHead, type PushCall } from "../http/push-stream.js";
import { isResponseClosed, lingerBeforeAnswer, releaseUnreadRequest, waitForDrain } from "../http/transcoding/index.js";
import type { EventRecord } from "../runs/event-append.js";
import type { Metrics } from "../metrics/metrics.js";
import { refusedToken, unverifiableToken } from "./auth-refusals.js";
import { clientLeft, toConnectError } from "./error-mapping.js";
import { authenticate, reportCall, requestIdFrom, type ObservedCall } from "./interceptors.js";
import { runMessage } from "./proto-convert.js";
import { decodeRequest, encodeEvents, encodeResponse, sharedFrame } from "./run-event-frames.js";
import { requestRefusal } from "./request-validation.js";
import { streamEndedByShutdown } from "./runs-service.js";

const service = "runline.v1.RunsService";
const method = "StreamRunEvents";
const procedure = `/${service}/${method}`;

/** How often streams opened with an access token are re-checked (as token-streams.ts does). */
const tokenRecheckMs = 1000;

/**
 * Stream starts (auth, the run's reads, the first message) in flight at once; later ones
 * wait in order, each holding only its request. A burst of 5,000 opens otherwise held
 * 5,000 starts' statements and promises at once, a peak that stays in the process's RSS
 * after it passed: 41.5 KB per idle stream opened in one burst against 22.4 KB opened in
 * waves of 250 (scratch measurement, heap retained 6.5 KB either way). 64 keeps the
 * database pool busy: each start is two or three short statements.
 */
const maxStartsInFlight = 64;

/** What the push path needs. */
export interface RunEventPushOptions {
  readonly app: AppContext;
  readonly metrics: Metrics;
  /** A stream whose client took no byte for this long is reset (universal-response-writer.ts). 0: never. */
  readonly stallTimeoutMs: number;
  /** The largest request message, as connect-es's `readMaxBytes`. */
  readonly readMaxBytes: number;
}

/** The push path of StreamRunEvents. */
export interface RunEventPush {
  /** Serves `request` and returns true, or returns false at once to leave it to connect-es. */
  serve(request: HttpRequest, response: HttpResponse): boolean;
  /** Streams open on this path. */
  readonly open: number;
}

/** One pushed stream: plain fields, and its listener at the tail. */
interface PushedStream {
  readonly request: HttpRequest;
  readonly response: HttpResponse;
  readonly call: PushCall;
  readonly observed: ObservedCall;
  caller: Caller | undefined;
  member: TailMember | undefined;
  /** The last sequence written. */
  cursor: number;
  ended: boolean;
  /** Counted in runline_active_streams (it passed auth and validation). */
  counted: boolean;
  deadline: NodeJS.Timeout | undefined;
  /** Holds one of the `maxStartsInFlight` places until its start settles or it ends. */
  starting: boolean;
  /** Set while the stream reads behind the tail (`next`), to stop that read when it ends. */
  catchingUp: AbortController | undefined;
  listener: TailListener;
}

/** Builds the push path over the app's tails; streams it holds end at shutdown with UNAVAILABLE. */
export function createRunEventPush(options: RunEventPushOptions): RunEventPush {
  const { app, metrics } = options;
  const sql = app.database.sql;
  const open = new Set<PushedStream>();
  const tokenStreams = new Set<PushedStream>();
  let tokenTimer: NodeJS.Timeout | undefined;
  const waitingToStart: PushedStream[] = [];
  let startsInFlight = 0;

  const admit = (stream: PushedStream): void => {
    if (startsInFlight >= maxStartsInFlight) {
      waitingToStart.push(stream);
      return;
    }
    startsInFlight++;
    stream.starting = true;
    void begin(stream).finally(() => started(stream));
  };

  // Gives back the stream's place (once) and starts the next waiting stream still open.
  const started = (stream: PushedStream): void => {
    if (!stream.starting) return;
    stream.starting = false;
    startsInFlight--;
    for (let next = waitingToStart.shift(); next !== undefined; next = waitingToStart.shift()) {
      if (next.ended) continue;
      admit(next);
      return;
    }
  };

  const finish = (stream: PushedStream, error: ConnectError | undefined): void => {
    if (stream.ended) return;
    stream.ended = true;
    started(stream);
    clearTimeout(stream.deadline);
    open.delete(stream);
    tokenStreams.delete(stream);
    if (tokenStreams.size === 0) tokenTimer = clearTimer(tokenTimer);
    stream.catchingUp?.abort();
    stream.member?.leave();
    endPushCall(stream.response, stream.call, headerOf(stream), error);
    releaseUnreadRequest(stream.request, stream.response);
    if (stream.counted) metrics.trackStream(procedure, -1);
    reportCall(app.logger, metrics, stream.observed, error);
  };

  const recheckTokens = (): void => {
    for (const stream of tokenStreams) {
      const refusal = app.tokens.recheck(stream.caller!);
      if (refusal !== undefined) finish(stream, refusal === "unverifiable" ? unverifiableToken() : refusedToken(refusal));
    }
  };

  const watchToken = (stream: PushedStream): void => {
    tokenStreams.add(stream);
    if (tokenTimer === undefined) {
      tokenTimer = setInterval(recheckTokens, tokenRecheckMs);
      tokenTimer.unref();
    }
  };

  // Writes events after the cursor; ends the stream after the terminal one. False: wait for 'drain'.
  const send = (stream: PushedStream, events: readonly EventRecord[], frame: Uint8Array): boolean => {
    if (isResponseClosed(stream.response)) {
      finish(stream, clientLeft());
      return false;
    }
    const written = stream.response.write(frame);
    stream.cursor = Number(events.at(-1)!.sequence);
    if (events.some(endsStream)) finish(stream, undefined);
    return written;
  };

  // Behind the tail (or after a full buffer): reads by cursor until at the tail, then parks.
  const catchUp = async (stream: PushedStream, drain: boolean): Promise<void> => {
    try {
      for (;;) {
        if (drain) await waitForDrain(stream.response, options.stallTimeoutMs);
        if (stream.ended || stream.member!.park(stream.cursor, stream.listener)) return;
        const reading = (stream.catchingUp = new AbortController());
        const events = await stream.member!.next(stream.cursor, reading.signal);
        stream.catchingUp = undefined;
        if (stream.ended || events.length === 0) return;
        drain = !send(stream, events, encodeEvents(events, stream.call.codec));
        if (stream.ended) return;
      }
    } catch (error) {
      finish(stream, toConnectError(error));
    }
  };

  // Parks the stream at the tail, or catches up first; synchronous in the common case.
  const follow = (stream: PushedStream, drain: boolean): void => {
    if (!drain && !stream.ended) {
      try {
        if (stream.member!.park(stream.cursor, stream.listener)) return;
      } catch (error) {
        finish(stream, toConnectError(error));
        return;
      }
    }
    void catchUp(stream, drain);
  };

  const onBatch = (stream: PushedStream, batch: TailBatch): void => {
    if (stream.ended) return;
    const first = Number(batch.events[0]!.sequence);
    // A gap (never expected: the tail reads contiguously) is filled from Postgres.
    if (first > stream.cursor + 1) return follow(stream, false);
    const events = first === stream.cursor + 1 ? batch.events : batch.events.filter((event) => Number(event.sequence) > stream.cursor);
    if (events.length === 0) return follow(stream, false);
    const frame = events === batch.events ? sharedFrame(batch, stream.call.codec) : encodeEvents(events, stream.call.codec);
    const written = send(stream, events, frame);
    if (!stream.ended) follow(stream, !written);
  };

  const begin = async (stream: PushedStream): Promise<void> => {
    const { request, response } = stream;
    try {
      const caller = (await authenticate(service, method, headerText(request, "authorization"), app.keys, app.tokens))!;
      stream.caller = caller;
      const message = decodeRequest(await readRequestMessage(request, options.readMaxBytes), stream.call.codec);
      // In the interceptors' order: the token's restriction, then the message's values.
      const restriction = caller.token?.restriction;
      if (restriction !== undefined) await checkRunAllowed(sql, caller.tenantId, restriction, message.runId);
      const refusal = requestRefusal(StreamRunEventsRequestSchema, message);
      if (refusal !== undefined) throw refusal;
      if (caller.isRoot) throw new ConnectError("the root key manages tenants and keys only; use a tenant API key", Code.PermissionDenied);
      if (message.afterSequence < 0n) throw invalidArgument("afterSequence", "must not be negative");
      if (stream.ended) return;
      metrics.trackStream(procedure, 1);
      stream.counted = true;
      if (caller.token !== undefined) watchToken(stream);
      const after = Number(message.afterSequence);
      const opened = await openRunEvents(sql, app.tails, caller.tenantId, message.runId, after);
      if (stream.ended) return opened.member.leave();
      stream.member = opened.member;
      stream.cursor = after;
      const first = create(StreamRunEventsResponseSchema, { run: runMessage(opened.run) });
      writePushHead(response, stream.call, headerOf(stream));
      const written = response.write(frameMessage(encodeResponse(first, stream.call.codec)));
      if (opened.complete) return finish(stream, undefined);
      follow(stream, !written);
    } catch (error) {
      if (stream.ended) return;
      // HTTP/1.1: an answer before the body was read is sent after the rest of it (request-discard.ts).
      if (!request.complete) await lingerBeforeAnswer(request, response);
      finish(stream, toConnectError(error));
    }
  };

  app.shutdownSignal.addEventListener("abort", () => [...open].forEach((stream) => finish(stream, streamEndedByShutdown())), {
    once: true,
  });

  return {
    serve(request, response) {
      if ((request.url ?? "").split("?", 1)[0] !== procedure || app.shutdownSignal.aborted) return false;
      const call = pushCallOf(request);
      if (call === undefined) return false;
      const stream: PushedStream = {
        request,
        response,
        call,
        observed: {
          started: performance.now(),
          procedure,
          requestId: requestIdFrom(headerText(request, "x-request-id")),
          protocol: call.protocol,
          tenant: () => stream.caller?.tenantId,
        },
        caller: undefined,
        member: undefined,
        cursor: 0,
        ended: false,
        counted: false,
        deadline: undefined,
        starting: false,
        catchingUp: undefined,
        listener: {
          // Called inside the tail's read loop: a failure here is this stream's alone.
          onBatch: (batch) => {
            try {
              onBatch(stream, batch);
            } catch (error) {
              finish(stream, toConnectError(error));
            }
          },
          onFailure: (error) => finish(stream, toConnectError(error)),
        },
      };
      open.add(stream);
      // 'close' before the end: the client cancelled, reset the stream or lost the connection.
      response.once("close", () => {
        if (!response.writableEnded) finish(stream, clientLeft());
      });
      if (call.timeoutMs !== undefined)
        stream.deadline = setTimeout(
          () => finish(stream, new ConnectError("the operation timed out", Code.DeadlineExceeded)),
          call.timeoutMs,
        );
      admit(stream);
      return true;
    },
    get open() {
      return open.size;
    },
  };
}

function clearTimer(timer: NodeJS.Timeout | undefined): undefined {
  clearInterval(timer);
  return undefined;
}

function headerText(request: HttpRequest, name: string): string | null {
  const value = request.headers[name];
  return typeof value === "string" ? value : null;
}

function headerOf(stream: PushedStream): Record<string, string> {
  return { "x-request-id": stream.observed.requestId };
}
