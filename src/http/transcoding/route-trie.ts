/**
 * The REST router: a trie of path templates, one level per path segment, as vanguard-go
 * builds it. A request path is matched segment by segment, literal children first, then
 * `*`, then `**`, backtracking when a branch leads nowhere. Unlike vanguard-go, which
 * stops at the first branch whose path matches, the search goes on until a branch also
 * accepts the HTTP method, and a 405 lists the methods of every branch whose path matched.
 *
 * Verbs: a last segment holding a raw ':' is first tried as `segment:verb`. Only when no
 * template with that verb matches the path is the segment tried whole, so an id with a
 * colon (`/things/a:b`) still reaches `/things/{id}`, while `GET /things/1:cancel` is a 405
 * when only `POST /things/{id}:cancel` exists. An encoded colon (`%3A`) is never a verb.
 */
import type { PathTemplate } from "./path-template.js";

/** The outcome of matching one request against the trie. */
export type RouteMatch<T> =
  /** `segments` are the raw (still percent-encoded) path segments, the verb removed. */
  | { readonly kind: "found"; readonly value: T; readonly segments: readonly string[] }
  | { readonly kind: "method-not-allowed"; readonly allowed: readonly string[] }
  | { readonly kind: "not-found" };

/** Templates indexed for matching; values are whatever the caller routes to. */
export interface RouteTrie<T> {
  /** Adds a route; throws when the same HTTP method already has a template of the same shape. */
  insert(httpMethod: string, template: PathTemplate, value: T): void;
  /** Finds the route for a raw request path (no query string). */
  match(httpMethod: string, rawPath: string): RouteMatch<T>;
}

interface TrieNode<T> {
  readonly literals: Map<string, TrieNode<T>>;
  wildcard: TrieNode<T> | undefined;
  deepWildcard: TrieNode<T> | undefined;
  /** Verb ("" for none) → HTTP method ("*" for any) → value. */
  readonly ends: Map<string, Map<string, T>>;
}

/** The HTTP method of a custom binding that accepts every method. */
export const anyHttpMethod = "*";

/** `describe` names a value in conflict messages, e.g. "GET /v1/x/{id} (pkg.Service.Method)". */
export function createRouteTrie<T>(describe: (value: T) => string): RouteTrie<T> {
  const root = createNode<T>();
  return {
    insert(httpMethod, template, value) {
      let node = root;
      for (const segment of template.segments) {
        if (segment.kind === "literal") node = childOf(node.literals, segment.value);
        else if (segment.kind === "wildcard") node = node.wildcard ??= createNode();
        else node = node.deepWildcard ??= createNode();
      }
      const methods = node.ends.get(template.verb ?? "") ?? new Map<string, T>();
      node.ends.set(template.verb ?? "", methods);
      const existing = methods.get(httpMethod);
      if (existing !== undefined) {
        throw new Error(
          `conflicting REST bindings: ${describe(value)} and ${describe(existing)} have the same HTTP method and path template`,
        );
      }
      methods.set(httpMethod, value);
    },
    match(httpMethod, rawPath) {
      if (!rawPath.startsWith("/")) return { kind: "not-found" };
      const segments = rawPath.slice(1).split("/");
      const allowed = new Set<string>();
      const last = segments[segments.length - 1] ?? "";
      const colon = last.lastIndexOf(":");
      if (colon !== -1) {
        const withoutVerb = [...segments.slice(0, -1), last.slice(0, colon)];
        const found = search(root, withoutVerb, 0, last.slice(colon + 1), httpMethod, allowed);
        if (found !== undefined) return { kind: "found", value: found, segments: withoutVerb };
      }
      if (allowed.size === 0) {
        const found = search(root, segments, 0, "", httpMethod, allowed);
        if (found !== undefined) return { kind: "found", value: found, segments };
      }
      return allowed.size === 0 ? { kind: "not-found" } : { kind: "method-not-allowed", allowed: [...allowed].sort() };
    },
  };
}

function createNode<T>(): TrieNode<T> {
  return { literals: new Map(), wildcard: undefined, deepWildcard: undefined, ends: new Map() };
}

function childOf<T>(children: Map<string, TrieNode<T>>, literal: string): TrieNode<T> {
  const existing = children.get(literal);
  if (existing !== undefined) return existing;
  const child = createNode<T>();
  children.set(literal, child);
  return child;
}

/** Depth-first: literal, then `*`, then `**`; records in `allowed` the methods of every path that matched. */
function search<T>(
  node: TrieNode<T>,
  segments: readonly string[],
  index: number,
  verb: string,
  httpMethod: string,
  allowed: Set<string>,
): T | undefined {
  if (index === segments.length) {
    const found = endOf(node, verb, httpMethod, allowed);
    if (found !== undefined) return found;
  } else {
    const segment = segments[index] ?? "";
    const decoded = decodeSegment(segment);
    const literal = decoded === undefined ? undefined : node.literals.get(decoded);
    const viaLiteral = literal === undefined ? undefined : search(literal, segments, index + 1, verb, httpMethod, allowed);
    if (viaLiteral !== undefined) return viaLiteral;
    if (node.wildcard !== undefined && segment !== "") {
      const viaWildcard = search(node.wildcard, segments, index + 1, verb, httpMethod, allowed);
      if (viaWildcard !== undefined) return viaWildcard;
    }
  }
  // `**` takes whatever is left, nothing included.
  return node.deepWildcard === undefined ? undefined : endOf(node.deepWildcard, verb, httpMethod, allowed);
}

function endOf<T>(node: TrieNode<T>, verb: string, httpMethod: string, allowed: Set<string>): T | undefined {
  const methods = node.ends.get(verb);
  if (methods === undefined) return undefined;
  for (const method of methods.keys()) allowed.add(method);
  return methods.get(httpMethod) ?? methods.get(anyHttpMethod);
}

/** A segment as template literals are stored: fully percent-decoded; undefined when malformed. */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
