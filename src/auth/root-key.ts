/**
 * The root key, which alone may call AdminService. It comes from RUNLINE_ROOT_KEY; with
 * the embedded default and no key set, the first start makes one, and keeps only its
 * hash in the data folder. A new key is kept and printed only once the server serves
 * (`keepNewRootKey`): a start that fails before then keeps nothing, and the next start
 * makes another, so no key is ever stored that nobody was shown.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../logger.js";
import { generateSecret, hashSecret } from "./api-keys.js";

/** Where the root key comes from. */
export interface RootKeySource {
  /** RUNLINE_ROOT_KEY, if set. */
  readonly rootKey: string | undefined;
  /** The data folder, when the embedded default is in use (else undefined). */
  readonly embeddedDataDir: string | undefined;
}

/** A key this start made: in use once the server serves, kept and shown by keepNewRootKey. */
export interface NewRootKey {
  readonly secret: string;
  /** Where its hash is to be kept. */
  readonly file: string;
}

/** The root key's SHA-256 (undefined when AdminService is disabled), and the key itself if this start made it. */
export interface RootKey {
  readonly hash: Buffer | undefined;
  readonly created: NewRootKey | undefined;
}

/** Reads the root key's hash, or makes a new key (not yet kept: see keepNewRootKey). */
export async function loadRootKey(source: RootKeySource, logger: Logger): Promise<RootKey> {
  if (source.rootKey !== undefined) return { hash: hashSecret(source.rootKey), created: undefined };
  if (source.embeddedDataDir === undefined) {
    logger.warn("RUNLINE_ROOT_KEY is not set: AdminService is disabled");
    return { hash: undefined, created: undefined };
  }
  const file = path.join(source.embeddedDataDir, "root-key.sha256");
  if (existsSync(file)) return { hash: Buffer.from((await readFile(file, "utf8")).trim(), "hex"), created: undefined };
  const secret = generateSecret();
  return { hash: hashSecret(secret), created: { secret, file } };
}

/**
 * Keeps a new key's hash, then prints the key, framed, on stderr: once, on the terminal
 * only (the log never carries secrets), after the server's own start-up lines.
 */
export async function keepNewRootKey(key: NewRootKey): Promise<void> {
  await writeFile(key.file, hashSecret(key.secret).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  const rule = "=".repeat(72);
  process.stderr.write(
    [
      "",
      rule,
      "  Runline root key, shown this once (only its hash is kept):",
      "",
      `    ${key.secret}`,
      "",
      '  Use it as "Authorization: Bearer <key>" to create tenants and API keys.',
      `  Lost it? Stop Runline, delete ${key.file}, and start again for a new one.`,
      rule,
      "",
      "",
    ].join("\n"),
  );
}
