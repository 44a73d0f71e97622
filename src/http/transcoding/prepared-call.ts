/**
 * A REST request after routing and mapping, ready to be called as an RPC, and what every
 * call needs from the handler's options. Shared by the unary and the streaming path.
 */
import type { DescMethod, Message, Registry } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import type { RestBinding } from "./http-bindings.js";
import type { NodeRequest } from "./request-body.js";
import type { NodeResponse } from "./response-writer.js";
import type { RestMethodHooks } from "./rest-options.js";

/** One request, mapped. */
export interface PreparedCall {
  /** The binding that answers: the matched one, or an alternative's rebinding. */
  readonly binding: RestBinding;
  /** Hooks of `binding.method`, if the app gave any. */
  readonly hooks: RestMethodHooks | undefined;
  readonly request: NodeRequest;
  readonly response: NodeResponse;
  /** The request message, after beforeCall. */
  readonly message: Message;
  /** Request metadata, after beforeCall. */
  readonly metadata: Headers;
  readonly timeoutMs: number | undefined;
  /** Headers every response to this request carries (request id …); metadata is added to them. */
  readonly responseHeaders: Headers;
}

/** Per-handler settings, resolved from RestOptions once. */
export interface CallEnvironment {
  readonly transport: Transport;
  readonly registry: Registry;
  readonly keepAliveMs: number;
  readonly stallTimeoutMs: number;
  readonly streamEventId: ((method: DescMethod, message: Message) => string | undefined) | undefined;
  readonly reportInternalError: (error: unknown) => void;
}
