/**
 * JSON Schema checks (ajv, draft 2020-12 keywords as ajv's default dialect supports) for
 * run inputs and resume inputs. Compiled validators are cached by the schema's content
 * hash: versions are immutable, so a hash always means the same validator.
 *
 * Schemas come from tenants (and resume schemas from executors), and validation runs on
 * the event loop every replica shares, so no schema may make it slow beyond the size of
 * what it checks: `pattern` and `patternProperties` run on RE2 (re2js), in time linear in
 * the text, instead of JavaScript's backtracking engine (`^(a+)+$` against 30 characters
 * held every request of every tenant for 3 s); `uniqueItems` compares canonical JSON
 * through a set, instead of ajv's pairwise deep comparison (8,000 objects: 1.1 s).
 */
import { Ajv, type ErrorObject, type SchemaValidateFunction, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { LRUCache } from "lru-cache";
import { RE2JS } from "re2js";
import { failedPrecondition, invalidArgument, invalidFields, type FieldViolation } from "../errors.js";
import { contentHash } from "./content-hash.js";

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

/**
 * ajv's regular expression engine: RE2, translated from JavaScript's syntax by re2js. RE2
 * has no backreferences or lookaround; a pattern that needs them is refused when the
 * schema is compiled (checkSchema), naming the pattern.
 */
function linearRegExp(pattern: string): { test(text: string): boolean; toString(): string } {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (error) {
    throw new Error(
      `pattern ${JSON.stringify(pattern)} is not supported: patterns run on RE2, in linear time, without backreferences or lookaround (${(error as Error).message})`,
      { cause: error },
    );
  }
  // ajv shares one compiled pattern among schemas by its toString(): it must name the pattern.
  return { test: (text) => compiled.test(text), toString: () => `/${pattern}/` };
}
// What ajv's standalone code generation would print for it; unused here (no standalone code).
linearRegExp.code = "linearRegExp";

/** JSON text of `value` with object keys sorted, so that deep-equal values give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** `uniqueItems` in time linear in the array's JSON, with ajv's own error wording. */
const uniqueItems: SchemaValidateFunction = (schema: unknown, data: unknown): boolean => {
  if (schema !== true || !Array.isArray(data)) return true;
  const seen = new Map<string, number>();
  for (const [index, item] of data.entries()) {
    const key = canonicalJson(item);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      uniqueItems.errors = [
        {
          keyword: "uniqueItems",
          message: `must NOT have duplicate items (items ## ${earlier} and ${index} are identical)`,
          params: { i: index, j: earlier },
        },
      ];
      return false;
    }
    seen.set(key, index);
  }
  return true;
};

// No logger: ajv warns on stderr (unstructured, outside the JSON log) about what tenants'
// schemas contain, e.g. a `format` it does not know, which any tenant could then write at
// will. Unknown formats are annotations, as JSON Schema 2020-12 makes every format by
// default: ignored, and the value accepted.
const ajv = new Ajv({ allErrors: true, strict: false, logger: false, code: { regExp: linearRegExp } });
addFormats(ajv);
ajv.removeKeyword("uniqueItems");
ajv.addKeyword({ keyword: "uniqueItems", type: "array", schemaType: "boolean", validate: uniqueItems, errors: true });
// Compiling is the expensive part; a few thousand distinct schemas cover any real tenant
// mix, and past that the least recently used validator is compiled again when next needed.
const validators = new LRUCache<string, ValidateFunction>({ max: 5000 });

/** Checks that `schema` is a usable JSON Schema; `field` names it in the error. */
export function checkSchema(schema: unknown, field: string): void {
  if (schema === undefined || schema === null) return;
  if (typeof schema !== "object" && typeof schema !== "boolean") throw invalidArgument(field, "must be a JSON Schema object");
  try {
    compiled(schema);
  } catch (error) {
    throw invalidArgument(field, `not a valid JSON Schema: ${(error as Error).message}`);
  }
}

function compiled(schema: unknown, cacheKey?: string): ValidateFunction {
  const key = cacheKey ?? contentHash(schema);
  let validate = validators.get(key);
  if (validate === undefined) {
    validate = ajv.compile(schema as object);
    validators.set(key, validate);
  }
  return validate;
}

function violationOf(error: ErrorObject, field: string): FieldViolation {
  const pointer = error.instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
  const missing = error.keyword === "required" ? (error.params as { missingProperty?: string }).missingProperty : undefined;
  if (missing !== undefined) pointer.push(missing);
  return { field: [field, ...pointer].join("."), description: error.message ?? "is invalid" };
}

/**
 * Validates `value` against `schema` (no schema accepts anything). Throws
 * INVALID_ARGUMENT with one violation per failing field, named from `field` down
 * (e.g. `input.customer.email`). `cacheKey`, when the caller already knows a hash that
 * identifies the schema (a version's content hash), saves hashing the schema again.
 */
export function validateAgainstSchema(value: unknown, schema: unknown, field: string, cacheKey?: string): void {
  if (schema === undefined || schema === null) return;
  let validate: ValidateFunction;
  try {
    validate = compiled(schema, cacheKey === undefined ? undefined : `${field}:${cacheKey}`);
  } catch (error) {
    // A schema stored before this server's rules (a backreference in a pattern) that it
    // can no longer compile: nothing the caller sent is wrong, the schema must change.
    throw failedPrecondition(`the schema for ${field} cannot be used: ${(error as Error).message}`, "SCHEMA_NOT_USABLE");
  }
  if (validate(value ?? null)) return;
  const violations = (validate.errors ?? []).map((error) => violationOf(error, field));
  const first = violations[0];
  throw invalidFields(first === undefined ? `${field} is invalid` : `${first.field}: ${first.description}`, violations);
}
