/**
 * Query parameters into request fields. A parameter names a field path, each step by its
 * JSON (lowerCamel) or proto name: `?nested.childName=x`, `?nested.child_name=x`.
 * Repeated fields take the parameter several times (`?tags=a&tags=b`); a singular one
 * given twice is refused rather than silently keeping one. Maps take `labels[key]=v` or
 * `labels.key=v` (everything after the map field is the key, dots included); map values
 * must be scalars, enums or well-known types. Repeated messages and other messages have
 * no query form: their fields are set one by one (`nested.name=x`), or they come in a body.
 *
 * Unknown parameters are refused with 400 naming the parameter, as vanguard-go does by
 * default (grpc-gateway ignores them); `allowUnknown` ignores them instead. Parameters
 * that set a field the path or the body already provides are always refused.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import type { ReflectMessage } from "@bufbuild/protobuf/reflect";
import { assignText } from "./field-assignment.js";
import { fieldJsonPath } from "./field-path.js";
import { malformedField } from "./rest-errors.js";

/** How the query may fill a request message. */
export interface QueryMapping {
  /** Ignore parameters that name no field, instead of refusing the request. */
  readonly allowUnknown: boolean;
  /** Why this field path cannot come from the query (the path or body sets it), or undefined. */
  readonly reservedBy: (fields: readonly DescField[]) => string | undefined;
}

interface ResolvedParameter {
  /** From the request message down to the field the values go into. */
  readonly fields: readonly DescField[];
  /** For a map field: the entry's key, as text. */
  readonly mapKey: string | undefined;
}

/** Sets every parameter of `query` on `target`; throws INVALID_ARGUMENT naming the first bad one. */
export function applyQueryParameters(target: ReflectMessage, query: URLSearchParams, mapping: QueryMapping): void {
  // Field (JSON path, with the map key) → the parameter that set it: one field under two
  // spellings (`pageSize` and `page_size`, `labels[k]` and `labels.k`) is refused like one
  // name given twice, rather than one of them silently winning.
  const setBy = new Map<string, string>();
  for (const name of new Set(query.keys())) {
    const resolved = resolveParameter(target.desc, name);
    if (resolved === undefined) {
      if (mapping.allowUnknown) continue;
      throw malformedField(name, `unknown query parameter "${name}": it names no field of ${target.desc.typeName}`);
    }
    // Violations name the field by its JSON path whichever name form the caller used.
    const field = resolved.mapKey === undefined ? fieldJsonPath(resolved.fields) : `${fieldJsonPath(resolved.fields)}[${resolved.mapKey}]`;
    const earlier = setBy.get(field);
    if (earlier !== undefined) throw malformedField(field, `query parameters "${earlier}" and "${name}" both set this field; give it once`);
    setBy.set(field, name);
    const reason = mapping.reservedBy(resolved.fields);
    if (reason !== undefined) throw malformedField(field, `query parameter "${name}" sets a field that ${reason}`);
    assignText(target, resolved.fields, query.getAll(name), { label: `query parameter "${name}"`, field, mapKey: resolved.mapKey });
  }
}

/** Walks the parameter's name through the descriptors; undefined when a step names no field. */
function resolveParameter(message: DescMessage, name: string): ResolvedParameter | undefined {
  const bracket = /^([^[]*)\[([^\]]*)\]$/.exec(name);
  const steps = (bracket?.[1] ?? name).split(".");
  const fields: DescField[] = [];
  let current = message;
  for (const [index, step] of steps.entries()) {
    const field =
      current.fields.find((candidate) => candidate.jsonName === step) ?? current.fields.find((candidate) => candidate.name === step);
    if (field === undefined) return undefined;
    fields.push(field);
    const isLast = index === steps.length - 1;
    if (field.fieldKind === "map") {
      const key = isLast ? bracket?.[2] : bracket === null ? steps.slice(index + 1).join(".") : undefined;
      if (key === undefined)
        throw malformedField(name, `query parameter "${name}": name the map entry as ${field.jsonName}[key] or ${field.jsonName}.key`);
      return { fields, mapKey: key };
    }
    if (isLast) break;
    if (field.fieldKind !== "message")
      throw malformedField(name, `query parameter "${name}": "${field.name}" is not a singular message field`);
    current = field.message;
  }
  if (bracket !== null) throw malformedField(name, `query parameter "${name}": "${fields.at(-1)?.name ?? ""}" is not a map field`);
  return { fields, mapKey: undefined };
}
