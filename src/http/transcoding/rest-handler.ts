/**
 * The REST entry point: `createRestHandler` turns annotated services into a Node request
 * handler, typically passed as connectNodeAdapter's `fallback` so it sees every request
 * that is not an RPC path. Per request: route (404 / 405 with Allow), pick the binding
 * (a hook's alternative may take over), read and map the request into the RPC's message,
 * run beforeCall, call the RPC through the in-process transport (so interceptors run as
 * for gRPC), and answer with JSON, SSE or NDJSON. Every failure becomes a
 * google.rpc.Status JSON body; the request id is echoed on every response.
 */
import { createRegistry } from "@bufbuild/protobuf";
import type { DescFile, DescService, Registry } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { file_google_rpc_error_details } from "../../../gen/google/rpc/error_details_pb.js";
import { assignText } from "./field-assignment.js";
import { fieldJsonPath } from "./field-path.js";
import { callTimeoutMs, requestIdHeader, requestIdOf, requestMetadata } from "./metadata-headers.js";
import type { CallEnvironment, PreparedCall } from "./prepared-call.js";
import { checkJsonContentType, headerValue, readBodyText, type NodeRequest } from "./request-body.js";
import { buildRequestMessage, takesBody, type RequestMappingOptions } from "./request-message.js";
import { writeErrorResponse, type NodeResponse } from "./response-writer.js";
import { hideUnexpectedError, httpRefusal } from "./rest-errors.js";
import type { RestOptions } from "./rest-options.js";
import { buildRestRoutes, type RestRoutes, type RouteTarget } from "./rest-routes.js";
import { serveServerStream } from "./server-stream.js";
import { serveUnary } from "./unary-call.js";
import { applyQueryCredential, takeQueryCredential } from "./query-credential.js";
import { lingerBeforeAnswer, releaseUnreadRequest } from "./request-discard.js";

/** Answers a request; resolves true when it did, false when it left an unmatched path alone. Never rejects. */
export type RestHandler = (request: NodeRequest, response: NodeResponse) => Promise<boolean>;

const defaultMaxBodyBytes = 4 * 1024 * 1024;
const defaultKeepAliveMs = 15_000;
const defaultStallTimeoutMs = 60_000;

/** Builds the handler; throws at once when an annotation or hook cannot be served. */
export function createRestHandler(options: RestOptions): RestHandler {
  const routes = buildRestRoutes(options);
  const environment: CallEnvironment = {
    transport: options.transport,
    registry: registryOf(options.services, options.registry),
    keepAliveMs: options.keepAliveMs ?? defaultKeepAliveMs,
    stallTimeoutMs: options.stallTimeoutMs ?? defaultStallTimeoutMs,
    streamEventId: options.streamEventId,
    reportInternalError: options.onInternalError ?? (() => {}),
  };
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  const answerUnmatched = options.answerUnmatched ?? true;
  const mapping: MappingOptions = {
    registry: environment.registry,
    allowUnknownQueryParameters: options.allowUnknownQueryParameters ?? false,
    queryCredential: options.queryCredential,
  };
  return async (request, response) => {
    const requestId = requestIdOf(request);
    const responseHeaders = new Headers({ [requestIdHeader]: requestId });
    try {
      const { path, query } = splitTarget(request.url);
      const httpMethod = (request.method ?? "GET").toUpperCase();
      const match = routes.trie.match(httpMethod, path);
      if (match.kind === "not-found") {
        if (!answerUnmatched) return false;
        throw httpRefusal(Code.NotFound, 404, `no REST route matches ${httpMethod} ${path}`);
      }
      if (match.kind === "method-not-allowed") {
        responseHeaders.set("allow", match.allowed.join(", "));
        throw httpRefusal(Code.Unimplemented, 405, `${httpMethod} is not allowed on ${path}; allowed: ${match.allowed.join(", ")}`);
      }
      const bodyText = await readBodyText(request, maxBodyBytes);
      const call = await prepareCall(
        routes,
        match.value,
        { request, response, segments: match.segments, query, bodyText, requestId, responseHeaders },
        mapping,
      );
      if (call.binding.method.methodKind === "server_streaming") await serveServerStream(call, environment);
      else await serveUnary(call, environment);
    } catch (error) {
      // Refusals decided before the body was read (413, 404, 415): its unread rest would
      // turn the answer into a connection reset on the client.
      await lingerBeforeAnswer(request, response);
      answerWithError(response, hideUnexpectedError(error, environment.reportInternalError), responseHeaders, environment);
      releaseUnreadRequest(request, response);
    }
    return true;
  };
}

/** How requests are mapped, and which query parameter may carry a credential. */
interface MappingOptions extends RequestMappingOptions {
  readonly queryCredential: string | undefined;
}

/** Everything about one request that preparing the call needs. */
interface IncomingCall {
  readonly request: NodeRequest;
  readonly response: NodeResponse;
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
  readonly bodyText: string;
  readonly requestId: string;
  readonly responseHeaders: Headers;
}

/** Picks the binding, maps the request into its message, applies Last-Event-ID, runs beforeCall. */
async function prepareCall(
  routes: RestRoutes,
  target: RouteTarget,
  incoming: IncomingCall,
  mapping: MappingOptions,
): Promise<PreparedCall> {
  const { request } = incoming;
  const binding = target.alternatives.find((alternative) => alternative.when(request))?.binding ?? target.binding;
  if (incoming.bodyText !== "" && takesBody(binding)) checkJsonContentType(request);
  const { query, credential } = takeQueryCredential(binding, incoming.query, mapping.queryCredential);
  const message = buildRequestMessage(binding, { ...incoming, query }, mapping);
  const lastEventId = headerValue(request, "last-event-id");
  const lastEventIdFields = routes.lastEventIdFieldsFor(binding.method);
  if (lastEventId !== undefined && lastEventIdFields !== undefined) {
    // The header wins over the query: a reconnecting EventSource repeats the original URL.
    assignText(message, lastEventIdFields, [lastEventId], { label: "header Last-Event-ID", field: fieldJsonPath(lastEventIdFields) });
  }
  const metadata = requestMetadata(request, incoming.requestId);
  applyQueryCredential(metadata, mapping.queryCredential ?? "", credential);
  const hooks = routes.hooksFor(binding.method);
  await hooks?.beforeCall?.({ method: binding.method, httpRequest: request, message: message.message, headers: metadata });
  return {
    binding,
    hooks,
    request,
    response: incoming.response,
    message: message.message,
    metadata,
    timeoutMs: callTimeoutMs(request),
    responseHeaders: incoming.responseHeaders,
  };
}

/** Writes the error unless the response already started or the client is gone; never throws. */
function answerWithError(response: NodeResponse, error: ConnectError, headers: Headers, environment: CallEnvironment): void {
  if (response.headersSent || response.writableEnded || response.destroyed) return;
  try {
    writeErrorResponse(response, error, headers, environment.registry);
  } catch (writeError) {
    environment.reportInternalError(writeError);
  }
}

/** Path and query of the request target; absolute-form targets (`http://host/path`) too. */
function splitTarget(url: string | undefined): { path: string; query: URLSearchParams } {
  const target = url ?? "/";
  if (!target.startsWith("/")) {
    const parsed = URL.canParse(target) ? new URL(target) : undefined;
    return { path: parsed?.pathname ?? target, query: new URLSearchParams(parsed?.search ?? "") };
  }
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  const search = end === -1 || target[end] === "#" ? "" : target.slice(end + 1).split("#")[0];
  return { path, query: new URLSearchParams(search) };
}

/**
 * The services' files and everything they import, plus google.rpc's error details, so
 * Any values in bodies and the usual error details (BadRequest, ErrorInfo, RetryInfo …)
 * render as JSON without the app listing them.
 */
function registryOf(services: readonly DescService[], extra: Registry | undefined): Registry {
  const files = new Set<DescFile>();
  const visit = (file: DescFile): void => {
    if (files.has(file)) return;
    files.add(file);
    file.dependencies.forEach(visit);
  };
  services.forEach((service) => visit(service.file));
  visit(file_google_rpc_error_details);
  return extra === undefined ? createRegistry(...files) : createRegistry(...files, extra);
}
