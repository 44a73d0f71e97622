/**
 * StreamRunEvents' messages on the push path (run-event-push.ts): the request read from
 * either codec, and responses encoded and framed, a tail batch's once per codec for all
 * the streams parked at its tail.
 */
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  StreamRunEventsRequestSchema,
  StreamRunEventsResponseSchema,
  type StreamRunEventsRequest,
  type StreamRunEventsResponse,
} from "../../gen/runline/v1/runs_service_pb.js";
import type { TailBatch } from "../events/shared-tail.js";
import { frameMessage, type PushCodec } from "../http/push-stream.js";
import type { EventRecord } from "../runs/event-append.js";
import { eventMessage } from "./proto-convert.js";

/** The request message, or INVALID_ARGUMENT saying why it could not be read. */
export function decodeRequest(bytes: Uint8Array, codec: PushCodec): StreamRunEventsRequest {
  try {
    if (codec === "proto") return fromBinary(StreamRunEventsRequestSchema, bytes);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    // Unknown fields are refused, as the router's jsonOptions refuse them (server.ts).
    return fromJsonString(StreamRunEventsRequestSchema, text, { ignoreUnknownFields: false });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConnectError(`the request message could not be read: ${reason}`, Code.InvalidArgument, undefined, undefined, error);
  }
}

/** A response message in `codec`, unframed. */
export function encodeResponse(message: StreamRunEventsResponse, codec: PushCodec): Uint8Array {
  return codec === "proto"
    ? toBinary(StreamRunEventsResponseSchema, message)
    : Buffer.from(toJsonString(StreamRunEventsResponseSchema, message), "utf8");
}

/** One message of events, framed. */
export function encodeEvents(events: readonly EventRecord[], codec: PushCodec): Uint8Array {
  return frameMessage(encodeResponse(create(StreamRunEventsResponseSchema, { events: events.map(eventMessage) }), codec));
}

/** The batch's frame in `codec`, made by the first stream that needs it and reused by the rest. */
export function sharedFrame(batch: TailBatch, codec: PushCodec): Uint8Array {
  const key = `runline.v1.StreamRunEventsResponse/${codec}`;
  let frame = batch.derived.get(key) as Uint8Array | undefined;
  if (frame === undefined) batch.derived.set(key, (frame = encodeEvents(batch.events, codec)));
  return frame;
}
