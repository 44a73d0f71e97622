/**
 * The routing table the REST handler is built on, assembled once at start-up from the
 * services' descriptors and the app's hooks: every binding in the trie (conflicts
 * refused), every hook tied to a served method, every alternative rebound to the same
 * template, every Last-Event-ID field resolved. Whatever is wrong is thrown here with the
 * method named, so a bad annotation or hook stops the server from starting.
 */
import type { DescField, DescMethod, DescService } from "@bufbuild/protobuf";
import { fieldPathName, resolveFieldPath } from "./field-path.js";
import { describeBinding, readRestBindings, rebindToMethod, type RestBinding } from "./http-bindings.js";
import type { RestMethodHooks, RestOptions } from "./rest-options.js";
import { createRouteTrie, type RouteTrie } from "./route-trie.js";
import type { NodeRequest } from "./request-body.js";

/** What a matched template leads to. */
export interface RouteTarget {
  readonly binding: RestBinding;
  /** Tried in order; the first whose `when` holds answers instead of `binding`. */
  readonly alternatives: readonly { readonly binding: RestBinding; readonly when: (request: NodeRequest) => boolean }[];
}

/** Routes plus what the handler looks up per method. */
export interface RestRoutes {
  readonly trie: RouteTrie<RouteTarget>;
  hooksFor(method: DescMethod): RestMethodHooks | undefined;
  /** The request field a `Last-Event-ID` header fills for this method, if any. */
  lastEventIdFieldsFor(method: DescMethod): readonly DescField[] | undefined;
}

/** Builds the table; throws on conflicting bindings, unknown hook methods or bad Last-Event-ID fields. */
export function buildRestRoutes(options: Pick<RestOptions, "services" | "hooks" | "lastEventIdField">): RestRoutes {
  const served = servedMethods(options.services);
  const hooks = indexHooks(options.hooks ?? [], served);
  const trie = createRouteTrie<RouteTarget>((target) => describeBinding(target.binding));
  const streamingMethods = new Map<string, DescMethod>();
  for (const binding of readRestBindings(options.services)) {
    const alternatives = (hooks.get(keyOf(binding.method))?.alternatives ?? []).map((alternative) => {
      const method = served.get(keyOf(alternative.method));
      if (method === undefined)
        throw new Error(`REST alternative for ${describeBinding(binding)}: ${keyOf(alternative.method)} is not a served method`);
      return { binding: rebindToMethod(binding, method), when: alternative.when };
    });
    for (const target of [binding, ...alternatives.map((alternative) => alternative.binding)]) {
      if (target.method.methodKind === "server_streaming") streamingMethods.set(keyOf(target.method), target.method);
    }
    trie.insert(binding.httpMethod, binding.template, { binding, alternatives });
  }
  const lastEventIdFields = resolveLastEventIdFields([...streamingMethods.values()], options.lastEventIdField);
  return {
    trie,
    hooksFor: (method) => hooks.get(keyOf(method)),
    lastEventIdFieldsFor: (method) => lastEventIdFields.get(keyOf(method)),
  };
}

/** Methods are compared by name: descriptors of one method may be distinct objects. */
function keyOf(method: DescMethod): string {
  return `${method.parent.typeName}.${method.name}`;
}

function servedMethods(services: readonly DescService[]): Map<string, DescMethod> {
  return new Map(services.flatMap((service) => service.methods.map((method) => [keyOf(method), method] as const)));
}

function indexHooks(hooks: readonly RestMethodHooks[], served: ReadonlyMap<string, DescMethod>): Map<string, RestMethodHooks> {
  const index = new Map<string, RestMethodHooks>();
  for (const hook of hooks) {
    const key = keyOf(hook.method);
    if (!served.has(key)) throw new Error(`REST hooks for ${key}: not a method of the served services`);
    if (index.has(key)) throw new Error(`REST hooks for ${key} are given twice; combine them into one`);
    index.set(key, hook);
  }
  return index;
}

function resolveLastEventIdFields(
  methods: readonly DescMethod[],
  fieldFor: RestOptions["lastEventIdField"],
): Map<string, readonly DescField[]> {
  const fields = new Map<string, readonly DescField[]>();
  for (const method of methods) {
    const path = fieldFor?.(method);
    if (path === undefined) continue;
    try {
      const resolved = resolveFieldPath(method.input, path);
      const leaf = resolved[resolved.length - 1];
      if (leaf === undefined || (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum"))
        throw new Error(`"${fieldPathName(resolved)}" is not a singular scalar field`);
      fields.set(keyOf(method), resolved);
    } catch (error) {
      throw new Error(`Last-Event-ID field for ${keyOf(method)}: ${(error as Error).message}`, { cause: error });
    }
  }
  return fields;
}
