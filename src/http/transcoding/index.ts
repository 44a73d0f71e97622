/**
 * The REST transcoder's public surface: what an app imports to serve annotated services
 * to HTTP/JSON callers and browsers. Everything else in this folder is internal.
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
export type { NodeRequest } from "./request-body.js";
export type { NodeResponse } from "./response-writer.js";
