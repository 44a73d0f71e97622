/**
 * Many watchers of one run, each a real client on a real socket: Connect (binary, over
 * HTTP/2, several streams per connection as browsers and SDKs share them), gRPC, and
 * REST SSE over HTTP/1.1. Each watcher records every event sequence it receives and
 * when, so a test can check exactly-once order and commit → client latency.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createParser } from "eventsource-parser";
import { onTestFinished } from "vitest";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { bearer, h2ConnectTransport } from "./clients.js";
import { eventually } from "./expectations.js";

/** How a watcher reaches StreamRunEvents. */
export type WatcherProtocol = "connect-h2" | "grpc" | "sse";

/** One watcher: what it received so far. */
export interface Watcher {
  readonly protocol: WatcherProtocol;
  /** Every event sequence received, in arrival order. */
  readonly sequences: number[];
  /** performance.now() when each sequence arrived. */
  readonly arrivals: Map<number, number>;
  /** Resolves when the server ends the stream; rejects with its error. */
  readonly ended: Promise<void>;
  /** How the stream ended ("completed" or the error), undefined while it is open. */
  outcome(): string | undefined;
  close(): void;
}

/** Where the crowd watches, and who it is. */
export interface CrowdTarget {
  readonly baseUrl: string;
  readonly key: string;
  readonly runId: string;
}

/** Clients for a crowd: Connect streams spread over `connections` HTTP/2 connections. */
export function crowdClients(target: CrowdTarget, connections: number): { connect(index: number): Client<typeof RunsService> } {
  const clients = Array.from({ length: connections }, () => createClient(RunsService, h2ConnectTransport(target.baseUrl, target.key)));
  return { connect: (index) => clients[index % connections]! };
}

function watcher(protocol: WatcherProtocol, controller: AbortController, read: (received: (sequence: number) => void) => Promise<void>) {
  const sequences: number[] = [];
  const arrivals = new Map<number, number>();
  onTestFinished(() => controller.abort());
  const ended = read((sequence) => {
    sequences.push(sequence);
    arrivals.set(sequence, performance.now());
  });
  let outcome: string | undefined;
  ended.then(
    () => (outcome = "completed"),
    (error: unknown) => (outcome = String(error)),
  );
  return { protocol, sequences, arrivals, ended, outcome: () => outcome, close: () => controller.abort() };
}

/** Opens a Connect or gRPC watcher (`client` from crowdClients for Connect). */
export function openRpcWatcher(
  protocol: "connect-h2" | "grpc",
  client: Client<typeof RunsService> | undefined,
  target: CrowdTarget,
  afterSequence: number,
): Watcher {
  const runs = client ?? createClient(RunsService, createGrpcTransport({ baseUrl: target.baseUrl, interceptors: [bearer(target.key)] }));
  const controller = new AbortController();
  return watcher(protocol, controller, async (received) => {
    const stream = runs.streamRunEvents({ runId: target.runId, afterSequence: BigInt(afterSequence) }, { signal: controller.signal });
    for await (const message of stream) for (const event of message.events) received(Number(event.sequence));
  });
}

/** Opens a REST SSE watcher (fetch, HTTP/1.1). */
export function openSseWatcher(target: CrowdTarget, afterSequence: number): Watcher {
  const controller = new AbortController();
  return watcher("sse", controller, async (received) => {
    const response = await fetch(`${target.baseUrl}/api/v1/runs/${target.runId}/events:stream?afterSequence=${afterSequence}`, {
      headers: { authorization: `Bearer ${target.key}`, accept: "text/event-stream" },
      signal: controller.signal,
    });
    if (response.status !== 200) throw new Error(`SSE answered ${response.status}`);
    const parser = createParser({
      onEvent: ({ data }) => {
        const message = JSON.parse(data) as { events?: { sequence: string }[] };
        for (const event of message.events ?? []) received(Number(event.sequence));
      },
    });
    const decoder = new TextDecoder();
    for await (const chunk of response.body!) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
  });
}

/** Opens `count` watchers from `afterSequence`: Connect over HTTP/2, except one gRPC and one SSE. */
export function openCrowd(target: CrowdTarget, count: number, afterSequence: number): Watcher[] {
  // 20 streams per connection: under RUNLINE_HTTP2_MAX_STREAMS (100) with room to spare.
  const clients = crowdClients(target, Math.ceil(count / 20));
  return Array.from({ length: count }, (_, index) => {
    if (index === 0) return openRpcWatcher("grpc", undefined, target, afterSequence);
    if (index === 1) return openSseWatcher(target, afterSequence);
    return openRpcWatcher("connect-h2", clients.connect(index), target, afterSequence);
  });
}

/** Waits until every watcher has received `last` (fails naming the laggards after `ms`). */
export async function crowdReaches(watchers: readonly Watcher[], last: number, ms: number): Promise<void> {
  await eventually(
    ms,
    `every watcher at sequence ${last}`,
    async () => {
      const behind = watchers.filter((one) => !one.arrivals.has(last));
      const stopped = behind.find((one) => one.outcome() !== undefined);
      if (stopped !== undefined)
        throw new Error(`a ${stopped.protocol} watcher stopped at ${stopped.sequences.at(-1)}: ${stopped.outcome()}`);
      return behind.length === 0 ? true : undefined;
    },
    20,
  );
}

/** from, from + 1, … to. */
export function sequenceRange(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

/** The median of `values` (sorted copy). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
