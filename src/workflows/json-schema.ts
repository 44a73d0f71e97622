/**
 * JSON Schema checks (ajv, draft 2020-12 keywords as ajv's default dialect supports) for
 * run inputs and resume inputs. Compiled validators are cached by the schema's content
 * hash: versions are immutable, so a hash always means the same validator.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { LRUCache } from "lru-cache";
import { invalidArgument, invalidFields, type FieldViolation } from "../errors.js";
import { contentHash } from "./content-hash.js";

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
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
  const validate = compiled(schema, cacheKey === undefined ? undefined : `${field}:${cacheKey}`);
  if (validate(value ?? null)) return;
  const violations = (validate.errors ?? []).map((error) => violationOf(error, field));
  const first = violations[0];
  throw invalidFields(first === undefined ? `${field} is invalid` : `${first.field}: ${first.description}`, violations);
}
