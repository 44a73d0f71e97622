/**
 * Sets text values (from a path variable, a query parameter or a header) on a field
 * deep inside a request message, creating the messages on the way. Refusals are
 * INVALID_ARGUMENT and name where the value came from, so a caller sees which part of
 * the URL to fix.
 */
import { create } from "@bufbuild/protobuf";
import type { DescField, Message } from "@bufbuild/protobuf";
import { reflect, type ReflectList, type ReflectMap, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { hasTextForm, parseTextValue, valueTypeOf, type ValueType } from "./field-value.js";
import { malformedField } from "./rest-errors.js";

/** Where values came from, for error messages. */
export interface TextSource {
  /** E.g. `query parameter "tags"`, `path variable "id"`, `header Last-Event-ID`. */
  readonly label: string;
  /** The name a google.rpc.BadRequest field violation reports. */
  readonly field: string;
  /** For a map field: the entry's key, as text. */
  readonly mapKey?: string | undefined;
}

/**
 * Sets `values` on the field at the end of `fields`: appended for a repeated field, one
 * entry for a map, the single value otherwise (more than one is refused).
 */
export function assignText(target: ReflectMessage, fields: readonly DescField[], values: readonly string[], source: TextSource): void {
  let message = target;
  for (const field of fields.slice(0, -1)) message = childMessage(message, field, source);
  const leaf = fields[fields.length - 1];
  if (leaf === undefined) return;
  const type = valueTypeOf(leaf);
  if (!hasTextForm(type)) {
    const hint = leaf.fieldKind === "message" ? "; set its fields one by one (name.field=value)" : "; send it in a request body";
    throw malformedField(
      source.field,
      `${source.label}: ${type.kind === "message" ? type.desc.typeName : "this field"} cannot be set from text${hint}`,
    );
  }
  if (leaf.fieldKind === "list") {
    const list = message.get(leaf) as ReflectList;
    for (const value of values) list.add(toReflectValue(type, parseValue(type, value, source)));
    return;
  }
  if (values.length > 1)
    throw malformedField(source.field, `${source.label} is given ${values.length} times but its field is not repeated`);
  const value = toReflectValue(type, parseValue(type, values[0] ?? "", source));
  if (leaf.fieldKind === "map") {
    const key = parseValue({ kind: "scalar", scalar: leaf.mapKey }, source.mapKey ?? "", source);
    (message.get(leaf) as ReflectMap).set(key, value);
    return;
  }
  checkOneof(message, leaf, source);
  message.set(leaf, value);
}

/** The message in `field`, created (and set) when absent, so deeper steps can fill it. */
function childMessage(message: ReflectMessage, field: DescField, source: TextSource): ReflectMessage {
  if (field.fieldKind !== "message") throw malformedField(source.field, `${source.label}: "${field.name}" is not a singular message field`);
  if (!message.isSet(field)) {
    checkOneof(message, field, source);
    message.set(field, reflect(field.message, create(field.message)));
  }
  return message.get(field);
}

/** Two members of one oneof would silently replace each other: refuse instead. */
function checkOneof(message: ReflectMessage, field: DescField, source: TextSource): void {
  if (field.oneof === undefined) return;
  const current = message.oneofCase(field.oneof);
  if (current !== undefined && current !== field) {
    throw malformedField(
      source.field,
      `${source.label}: "${field.name}" and "${current.name}" belong to oneof "${field.oneof.name}"; set only one`,
    );
  }
}

function parseValue(type: ValueType, text: string, source: TextSource): unknown {
  try {
    return parseTextValue(type, text);
  } catch (error) {
    throw malformedField(source.field, `invalid value for ${source.label}: ${(error as Error).message}`);
  }
}

/** Reflection takes messages wrapped; everything else as parsed. */
function toReflectValue(type: ValueType, value: unknown): unknown {
  return type.kind === "message" ? reflect(type.desc, value as Message) : value;
}
