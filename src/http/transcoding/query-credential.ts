/**
 * A bearer credential in the query string (RFC 6750 §2.3), for the one caller that can
 * send no header: a browser's native EventSource. Accepted only on GET routes of
 * server-streaming methods, where that caller is; anywhere else the parameter stays
 * what any parameter naming no field is, an unknown query parameter (400). The value is
 * moved into the call's `Authorization` metadata and out of the query, so nothing after
 * this point (mapping, errors, logs) holds it; no error here echoes it either.
 */
import type { RestBinding } from "./http-bindings.js";
import { malformedField } from "./rest-errors.js";

/** The query without the credential, and the credential when this binding takes one. */
export interface QueryCredential {
  readonly query: URLSearchParams;
  readonly credential: string | undefined;
}

/** Whether `binding` accepts a credential in its query. */
export function acceptsQueryCredential(binding: RestBinding): boolean {
  return binding.httpMethod === "GET" && binding.method.methodKind === "server_streaming";
}

/** Takes the parameter `name` out of `query` when `binding` accepts it; otherwise leaves the query as it is. */
export function takeQueryCredential(binding: RestBinding, query: URLSearchParams, name: string | undefined): QueryCredential {
  if (name === undefined || !query.has(name) || !acceptsQueryCredential(binding)) return { query, credential: undefined };
  const values = query.getAll(name);
  if (values.length > 1) throw malformedField(name, `query parameter "${name}" given ${values.length} times; send it once`);
  const rest = new URLSearchParams(query);
  rest.delete(name);
  return { query: rest, credential: values[0] };
}

/** Puts the credential into the call's metadata; refuses a request that also sends an Authorization header (RFC 6750 §2). */
export function applyQueryCredential(metadata: Headers, name: string, credential: string | undefined): void {
  if (credential === undefined) return;
  if (metadata.has("authorization"))
    throw malformedField(name, `send the credential once: either the Authorization header or the "${name}" query parameter`);
  metadata.set("authorization", `Bearer ${credential}`);
}
