/**
 * The root key, which alone may call AdminService. It comes from RUNLINE_ROOT_KEY; with
 * the embedded default and no key set, the first start makes one, prints it once and
 * keeps only its hash in the data folder.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
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

/** The SHA-256 of the root key, or undefined when AdminService is disabled. */
export async function loadRootKeyHash(source: RootKeySource, logger: Logger): Promise<Buffer | undefined> {
  if (source.rootKey !== undefined) return hashSecret(source.rootKey);
  if (source.embeddedDataDir === undefined) {
    logger.warn("RUNLINE_ROOT_KEY is not set: AdminService is disabled");
    return undefined;
  }
  const file = path.join(source.embeddedDataDir, "root-key.sha256");
  if (existsSync(file)) return Buffer.from((await readFile(file, "utf8")).trim(), "hex");
  const secret = generateSecret();
  const hash = hashSecret(secret);
  await mkdir(source.embeddedDataDir, { recursive: true });
  await writeFile(file, hash.toString("hex") + "\n", { mode: 0o600 });
  // Printed once, on the terminal only: the log never carries secrets.
  process.stderr.write(
    `\nRunline root key (shown once; only its hash is kept in ${file}):\n\n  ${secret}\n\n` +
      `Use it as "Authorization: Bearer <key>" to create tenants and API keys.\n\n`,
  );
  return hash;
}
