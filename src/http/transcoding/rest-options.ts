/**
 * The REST layer's options and its per-method hooks: the one place where an app adds
 * REST-only behaviour (a header into a request field, ETags and 304, 204 for an empty
 * result, another RPC for the same URL) without the transcoder knowing about its domain.
 */
import type {
  DescMessage,
  DescMethod,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  Message,
  MessageShape,
  Registry,
} from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import type { NodeRequest } from "./request-body.js";

/** Everything `createRestHandler` needs; every optional field says its default. */
export interface RestOptions {
  /** Services whose `google.api.http` annotations become routes. Methods without one get none. */
  readonly services: readonly DescService[];
  /**
   * Calls the RPCs, normally in-process (`createRouterTransport`, or a transport over
   * `createUniversalHandlerClient(router.handlers)`), so REST calls pass the same
   * interceptors and handlers as gRPC and Connect. Context values do not cross it:
   * what interceptors need travels as request headers.
   */
  readonly transport: Transport;
  /** Types beyond the services' own files for google.protobuf.Any in bodies and error details. Default: none. */
  readonly registry?: Registry | undefined;
  /** Largest accepted request body; more is refused with 413. Default: 4 MiB. */
  readonly maxBodyBytes?: number | undefined;
  /** Idle time after which an SSE stream sends a `: keep-alive` comment. Default: 15000 ms. */
  readonly keepAliveMs?: number | undefined;
  /**
   * A stream whose client has taken no byte for this long while a frame waits is reset
   * (see writeWithBackpressure); it reconnects with `Last-Event-ID`. 0: never. Default: 60000 ms.
   */
  readonly stallTimeoutMs?: number | undefined;
  /**
   * A query parameter that carries a bearer credential on GET routes of server-streaming
   * methods only (RFC 6750 §2.3; e.g. "access_token"), for browsers' EventSource, which
   * cannot send headers. It becomes the call's `Authorization: Bearer` metadata; with an
   * Authorization header too, or given twice, the request is refused with 400. Elsewhere
   * it is an unknown parameter. Default: none.
   */
  readonly queryCredential?: string | undefined;
  /** Ignore query parameters that name no field instead of refusing them with 400. Default: false (vanguard-go's default). */
  readonly allowUnknownQueryParameters?: boolean | undefined;
  /** The SSE `id:` of a streamed message, e.g. its last sequence number. Default: no `id:` lines. */
  readonly streamEventId?: ((method: DescMethod, message: Message) => string | undefined) | undefined;
  /**
   * The request field (proto names, dotted) a `Last-Event-ID` header fills for a
   * streaming method, so a reconnecting EventSource resumes where it stopped. The header
   * wins over the same field in the query. Default: the header is only forwarded as metadata.
   */
  readonly lastEventIdField?: ((method: DescMethod) => string | undefined) | undefined;
  /** Per-method REST behaviour; see RestMethodHooks. Default: none. */
  readonly hooks?: readonly RestMethodHooks[] | undefined;
  /**
   * What an unmatched path gets. true: a 404 with a JSON Status body, and the handler's
   * promise resolves true. false: nothing is written and it resolves false, so the app
   * can try another handler. Default: true.
   */
  readonly answerUnmatched?: boolean | undefined;
  /** Told about failures that are bugs or infrastructure faults (callers see only "internal error"). Default: ignored. */
  readonly onInternalError?: ((error: unknown) => void) | undefined;
}

/** Before the call: the request as the transcoder built it, which the hook may change. */
export interface BeforeCallContext<I extends DescMessage = DescMessage> {
  readonly method: DescMethod;
  readonly httpRequest: NodeRequest;
  /** The request message from path, query and body. Mutable. */
  readonly message: MessageShape<I>;
  /** The request metadata the RPC will see. Mutable. */
  readonly headers: Headers;
}

/** After a successful unary call, before anything is written. */
export interface AfterCallContext<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  readonly method: DescMethod;
  readonly httpRequest: NodeRequest;
  readonly request: MessageShape<I>;
  /** The RPC's response message. */
  readonly message: MessageShape<O>;
  /** The headers about to be sent, response metadata included. Mutable: set ETag and the like here. */
  readonly responseHeaders: Headers;
}

/** How an afterCall hook changes the response; fields left out keep the default (200, JSON body). */
export interface ResponseOverride {
  /** HTTP status, e.g. 204 or 304. */
  readonly status?: number | undefined;
  /** "empty": no body and no Content-Type, as 204 and 304 require. */
  readonly body?: "empty" | undefined;
}

/** Another RPC that answers a binding's requests when `when` says so. */
export interface RestAlternative {
  /**
   * A unary or server-streaming method of the served services whose request message has
   * the fields the binding's path fills. Its own hooks apply when it answers.
   */
  readonly method: DescMethod;
  /** Decides per request, e.g. on `Accept: text/event-stream`. */
  readonly when: (httpRequest: NodeRequest) => boolean;
}

/**
 * REST behaviour for one method. Hooks may throw a ConnectError to refuse the request;
 * it is answered like any RPC error.
 */
export interface RestMethodHooks<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  /** The method these hooks belong to (a served method with a REST binding or an alternative's). */
  readonly method: DescMethod;
  /** Runs before the call, unary and streaming alike: fill fields from headers, check preconditions. */
  beforeCall?(context: BeforeCallContext<I>): void | Promise<void>;
  /** Runs after a successful unary call (never for streams): add headers, choose 204/304. */
  afterCall?(context: AfterCallContext<I, O>): ResponseOverride | undefined | Promise<ResponseOverride | undefined>;
  /** Checked in order before the call; the first whose `when` holds answers instead of this method. */
  readonly alternatives?: readonly RestAlternative[] | undefined;
}

/** Types a hooks object by its method, so `message` has the method's request and response types. */
export function defineRestHooks<I extends DescMessage, O extends DescMessage>(
  hooks: RestMethodHooks<I, O> & { readonly method: DescMethodUnary<I, O> | DescMethodServerStreaming<I, O> },
): RestMethodHooks {
  return hooks;
}
