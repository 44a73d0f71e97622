/**
 * The REST transcoder's public surface: what an app imports to serve annotated services
 * to HTTP/JSON callers and browsers, and what a document generator needs to describe
 * them exactly as they are served (the binding reader, field paths, which fields have a
 * text form), how a JSON body that does not decode is explained (Connect JSON bodies
 * too), and the Node request/response plumbing the listener's RPC adapter shares with
 * it (draining unread bodies, writing with backpressure, header conversion).
 * Everything else in this folder is internal.
 */
export { createRestHandler, type RestHandler } from "./rest-handler.js";
export {
  defineRestHooks,
  type AfterCallContext,
  type BeforeCallContext,
  type ResponseOverride,
  type RestAlternative,
  type RestMethodHooks,
  type RestOptions,
} from "./rest-options.js";
export { withCors, type CorsOptions } from "./cors.js";
export { describeBinding, readRestBindings, type RestBinding } from "./http-bindings.js";
export { acceptsQueryCredential } from "./query-credential.js";
export { resolveFieldPath } from "./field-path.js";
export { hasTextForm, valueTypeOf, type ValueType } from "./field-value.js";
export { findJsonFault, jsonFaultMessage, type JsonFault } from "./json-faults.js";
export type { TemplateSegment } from "./path-template.js";
export type { NodeRequest } from "./request-body.js";
export { httpStatusFor } from "./rest-errors.js";
export { isResponseClosed, waitForDrain, writeWithBackpressure, type NodeResponse } from "./response-writer.js";
export { maxTimerMs, toNodeHeaders } from "./metadata-headers.js";
export { lingerBeforeAnswer, releaseUnreadRequest, requestChunks } from "./request-discard.js";
