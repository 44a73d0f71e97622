/**
 * Statements with parameters bound by name. A statement is written with `:name`
 * placeholders and compiled once, at module load, against a declaration of its
 * parameters' types: each placeholder becomes `$n::type`, n the name's place in the
 * declaration. Fragments of SQL shared between modules therefore carry names, never
 * numbers, and no module depends on another's `$n` order.
 *
 * A placeholder is a colon not preceded by another colon (so casts like `x::text` are
 * left alone) followed by a declared name. A name used but not declared, or declared
 * but not used, fails at compile time: at module load, so at the first test.
 */

/** Parameter names and their Postgres types, in `$n` order. */
export type ParameterTypes = Readonly<Record<string, string>>;

/** A compiled statement: its text for `Sql.query`, and how to order its values. */
export interface NamedStatement<Names extends string> {
  /** The SQL with `$n::type` placeholders. */
  readonly text: string;
  /** The values in `$n` order, taken from an object keyed by parameter name. */
  values(parameters: Readonly<Record<Names, unknown>>): unknown[];
}

const placeholder = /(?<!:):([a-zA-Z][a-zA-Z0-9]*)/g;

/** Compiles `text` against `types`; see the module comment. */
export function namedStatement<const Types extends ParameterTypes>(types: Types, text: string): NamedStatement<keyof Types & string> {
  const names = Object.keys(types) as (keyof Types & string)[];
  const used = new Set<string>();
  const compiled = text.replace(placeholder, (_match, name: string) => {
    const index = names.indexOf(name);
    if (index === -1) throw new Error(`statement uses the undeclared parameter :${name}`);
    used.add(name);
    return `$${index + 1}::${types[name]}`;
  });
  const unused = names.filter((name) => !used.has(name));
  if (unused.length > 0) throw new Error(`statement declares unused parameters: ${unused.join(", ")}`);
  return { text: compiled, values: (parameters) => names.map((name) => parameters[name]) };
}
