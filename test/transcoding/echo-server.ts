/**
 * The transcoding tests' server: TranscodingTestService implemented as an echo (every
 * unary RPC returns the request it received and names itself in an `answered-by`
 * response header), served by connectNodeAdapter with the REST handler as its fallback,
 * on a real port. The REST handler reaches the service through an in-process router
 * transport that runs an interceptor, so tests can see REST calls pass interceptors.
 */
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SampleSchema, TranscodingTestService, type Sample } from "../../gen/transcodingtest/v1/test_service_pb.js";
import { startListener, type RequestHandler } from "../../src/http/listener.js";
import { createRestHandler, defineRestHooks, withCors, type CorsOptions, type RestOptions } from "../../src/http/transcoding/index.js";

/** A running echo server. */
export interface EchoServer {
  readonly url: string;
  /** Emits "stream-aborted" (with the request id field) when a stream handler sees ctx.signal abort. */
  readonly events: EventEmitter;
  close(): Promise<void>;
}

/** Unary echo: the request back, and which RPC answered in a header. */
function echo(name: string) {
  return (request: Sample, context: HandlerContext): Sample => {
    context.responseHeader.set("answered-by", name);
    return request;
  };
}

/**
 * Sends `int32Value` messages numbered `int64Value + 1 …`, `duration` apart. text "fail":
 * fails after them; "fail-first": fails before any; flag: then waits for the client to leave.
 */
async function* streamSamples(request: Sample, context: HandlerContext, events: EventEmitter): AsyncGenerator<Sample> {
  context.responseHeader.set("answered-by", "StreamSamples");
  if (request.text === "fail-first") throw new ConnectError("failed before any message", Code.FailedPrecondition);
  const gap = request.duration === undefined ? 0 : durationMs(request.duration);
  for (let index = 1; index <= request.int32Value; index++) {
    if (index > 1 && gap > 0) await sleep(gap, undefined, { signal: context.signal });
    yield create(SampleSchema, { id: request.id, int64Value: request.int64Value + BigInt(index) });
  }
  if (request.text === "fail")
    throw new ConnectError("stream failed", Code.Aborted, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "STREAM_FAILED", domain: "test" } },
    ]);
  if (request.flag) {
    await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
    events.emit("stream-aborted", request.id);
  }
}

/** Fails with code `int32Value`, message `text`, metadata and three typed details. */
function fail(request: Sample): never {
  throw new ConnectError(request.text, request.int32Value as Code, { "x-failure": "yes" }, [
    { desc: ErrorInfoSchema, value: { reason: "TEST_FAILURE", domain: "test.example", metadata: { id: request.id } } },
    { desc: RetryInfoSchema, value: { retryDelay: { seconds: 2n, nanos: 500_000_000 } } },
    { desc: BadRequestSchema, value: { fieldViolations: [{ field: "text", description: "refused on purpose" }] } },
  ]);
}

function routes(events: EventEmitter): (router: ConnectRouter) => void {
  return (router) =>
    router.service(TranscodingTestService, {
      echoQuery: echo("EchoQuery"),
      echoHeaders: (_request, context) => create(SampleSchema, { labels: Object.fromEntries(context.requestHeader) }),
      getResource: echo("GetResource"),
      getNested: echo("GetNested"),
      getFile: echo("GetFile"),
      matchWildcards: echo("MatchWildcards"),
      cancelResource: echo("CancelResource"),
      createResource: echo("CreateResource"),
      updateNested: echo("UpdateNested"),
      replaceLabels: echo("ReplaceLabels"),
      appendTags: echo("AppendTags"),
      deleteResource: echo("DeleteResource"),
      getNestedOnly: echo("GetNestedOnly"),
      listTags: echo("ListTags"),
      reportResource: echo("ReportResource"),
      fail,
      listSamples: echo("ListSamples"),
      streamSamples: (request, context) => streamSamples(request, context, events),
    });
}

/** Marks every unary response, to show that REST calls pass the router's interceptors. */
const markIntercepted: Interceptor = (next) => async (request) => {
  const response = await next(request);
  if (!response.stream) response.header.set("intercepted", "yes");
  return response;
};

const method = TranscodingTestService.method;

/** The hooks an app would add: a header into a field, ETag/304, 204, an SSE alternative. */
export const testHooks = [
  defineRestHooks({
    method: method.createResource,
    beforeCall({ httpRequest, message }) {
      const key = httpRequest.headers["idempotency-key"];
      if (typeof key === "string" && message.text === "") message.text = key;
    },
  }),
  defineRestHooks({
    method: method.getResource,
    afterCall({ httpRequest, message, responseHeaders }) {
      const etag = `W/"${message.id}"`;
      responseHeaders.set("etag", etag);
      return httpRequest.headers["if-none-match"] === etag ? { status: 304, body: "empty" } : undefined;
    },
  }),
  defineRestHooks({
    method: method.deleteResource,
    afterCall: ({ message }) => (message.flag ? undefined : { status: 204, body: "empty" }),
  }),
  defineRestHooks({
    method: method.listSamples,
    alternatives: [{ method: method.streamSamples, when: (request) => (request.headers.accept ?? "").includes("text/event-stream") }],
  }),
];

/** Starts the server; `rest` overrides REST options, `cors` wraps everything in CORS. */
export async function startEchoServer(rest: Partial<RestOptions> = {}, cors?: CorsOptions): Promise<EchoServer> {
  const events = new EventEmitter();
  const transport = createRouterTransport(routes(events), { router: { interceptors: [markIntercepted] } });
  const fallback = createRestHandler({
    services: [TranscodingTestService],
    transport,
    hooks: testHooks,
    streamEventId: (streamed, message) => (streamed.name === "StreamSamples" ? String((message as Sample).int64Value) : undefined),
    lastEventIdField: (streamed) => (streamed.name === "StreamSamples" ? "int64_value" : undefined),
    ...rest,
  });
  const adapter: RequestHandler = connectNodeAdapter({ routes: routes(events), fallback });
  const handler = cors === undefined ? adapter : withCors(cors, adapter);
  const listener = await startListener({ host: "127.0.0.1", port: 0, handler });
  return { url: listener.url, events, close: () => listener.close({ graceMs: 100 }) };
}
