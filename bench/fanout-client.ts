/**
 * Subscribers for the `fanout` group: StreamRunEvents over the Connect streaming protocol
 * (binary, HTTP/2 prior knowledge), on raw `node:http2` sessions with many streams each,
 * so thousands of them cost the bench process little besides decoding what arrives. The
 * same client reads Runline and the in-memory ceiling (fanout-ceiling.ts), which speak the
 * same protocol and send the same messages. Each subscriber keeps its last sequence, its
 * count of events, and whether a sequence ever came twice or out of order.
 */
import http2 from "node:http2";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { StreamRunEventsRequestSchema, StreamRunEventsResponseSchema } from "../gen/runline/v1/runs_service_pb.js";

/** One subscriber's state, updated as messages arrive. */
export interface Subscriber {
  readonly runId: string;
  /** The greatest sequence received (the cursor to resume from). */
  last: number;
  /** Events received. */
  count: number;
  /** A sequence that did not follow the previous one by exactly 1 (0: none). */
  disorder: number;
  /** Set once the stream ended (the error or "ended"). */
  ended: string | undefined;
  /** The first message (the run) arrived: the stream is open and subscribed. */
  opened: boolean;
}

/** What arrives, for the group's bookkeeping: the run, the batch's last sequence and its events' commit times. */
export type OnEvents = (subscriber: Subscriber, last: number, commitTimes: readonly number[]) => void;

/** A pool of HTTP/2 sessions to one server, `streamsPerSession` subscribers each. */
export interface SubscriberPool {
  subscribe(runId: string, afterSequence: number): Subscriber;
  /** Ends every stream and session. */
  close(): void;
}

/** One Connect streaming envelope (flags 0) around `message`. */
export function envelope(message: Uint8Array): Buffer {
  const framed = Buffer.alloc(5 + message.length);
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}

/** Opens sessions to `baseUrl` lazily, `streamsPerSession` streams on each. */
export function subscriberPool(baseUrl: string, key: string, streamsPerSession: number, onEvents: OnEvents): SubscriberPool {
  const sessions: http2.ClientHttp2Session[] = [];
  let onCurrent = 0;
  const session = (): http2.ClientHttp2Session => {
    if (sessions.length === 0 || onCurrent >= streamsPerSession) {
      const opened = http2.connect(baseUrl, { settings: { initialWindowSize: 1 << 20 } });
      opened.on("error", () => undefined);
      sessions.push(opened);
      onCurrent = 0;
    }
    onCurrent++;
    return sessions.at(-1)!;
  };
  const streams: http2.ClientHttp2Stream[] = [];
  return {
    subscribe(runId, afterSequence) {
      const subscriber: Subscriber = { runId, last: afterSequence, count: 0, disorder: 0, ended: undefined, opened: false };
      const stream = session().request({
        ":method": "POST",
        ":path": "/runline.v1.RunsService/StreamRunEvents",
        "content-type": "application/connect+proto",
        authorization: `Bearer ${key}`,
      });
      streams.push(stream);
      stream.end(
        envelope(
          toBinary(StreamRunEventsRequestSchema, create(StreamRunEventsRequestSchema, { runId, afterSequence: BigInt(afterSequence) })),
        ),
      );
      let pending: Buffer = Buffer.alloc(0);
      stream.on("data", (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= 5) {
          const length = pending.readUInt32BE(1);
          if (pending.length < 5 + length) break;
          const flags = pending[0]!;
          const body = pending.subarray(5, 5 + length);
          pending = pending.subarray(5 + length);
          if ((flags & 0x02) !== 0) {
            const text = body.toString("utf8");
            subscriber.ended = text.includes('"error"') ? text : "ended";
            continue;
          }
          const { events } = fromBinary(StreamRunEventsResponseSchema, body);
          subscriber.opened = true;
          if (events.length === 0) continue;
          const commitTimes: number[] = [];
          for (const event of events) {
            const sequence = Number(event.sequence);
            if (sequence !== subscriber.last + 1 && subscriber.disorder === 0) subscriber.disorder = sequence;
            subscriber.last = sequence;
            commitTimes.push(event.createTime === undefined ? Number.NaN : timestampMs(event.createTime));
          }
          subscriber.count += events.length;
          onEvents(subscriber, subscriber.last, commitTimes);
        }
      });
      stream.on("error", (error: Error) => (subscriber.ended ??= error.message));
      stream.on("close", () => (subscriber.ended ??= "closed"));
      return subscriber;
    },
    close() {
      for (const stream of streams) stream.close(http2.constants.NGHTTP2_CANCEL);
      for (const opened of sessions) opened.destroy();
    },
  };
}
