/**
 * Resolves dotted field paths (`nested.child.name`) against message descriptors, the way
 * annotations name fields: proto names, each step through a singular message field.
 * Used at start-up, so failures are plain Errors that become start-up messages.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";

/** The fields along `path` from `message` down; throws when a step is unknown or not a singular message. */
export function resolveFieldPath(message: DescMessage, path: string): DescField[] {
  const fields: DescField[] = [];
  let current: DescMessage | undefined = message;
  for (const name of path.split(".")) {
    if (current === undefined) {
      const parent = fields.at(-1);
      throw new Error(`"${path}": "${parent?.name ?? ""}" is not a singular message field, so it has no field "${name}"`);
    }
    const field: DescField | undefined = current.fields.find((candidate) => candidate.name === name);
    if (field === undefined) throw new Error(`"${path}": ${current.typeName} has no field "${name}"`);
    fields.push(field);
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  return fields;
}

/** `a.b.c` in proto names, for messages. */
export function fieldPathName(fields: readonly DescField[]): string {
  return fields.map((field) => field.name).join(".");
}

/** `a.b.c` in JSON (lowerCamel) names: how google.rpc.BadRequest field violations name fields. */
export function fieldJsonPath(fields: readonly DescField[]): string {
  return fields.map((field) => field.jsonName).join(".");
}
