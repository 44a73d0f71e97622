/**
 * The web console's files, built by esbuild in memory from console/ the first time
 * someone asks for them, and kept for the life of the process.
 *
 * Why at run time and not at install: the bundle can never disagree with the sources
 * (no stale build folder after a `git pull`), nothing is written to disk (read-only
 * deployments work), `npm test` builds it without an extra step, and a server that
 * nobody opens the console on never pays for it. Asset names carry a hash of their
 * content, so replicas built from the same sources serve the same names and a browser
 * may cache them for good. Each asset is gzipped once, here, not per request.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

/** One file the console serves. */
export interface ConsoleFile {
  readonly contentType: string;
  readonly body: Buffer;
  /** The body gzipped, or undefined when gzip would not make it smaller. */
  readonly gzipped: Buffer | undefined;
  /** A strong ETag: a hash of the body. */
  readonly etag: string;
}

/** The built console: its page and its hashed assets by file name. */
export interface ConsoleBundle {
  readonly page: ConsoleFile;
  readonly assets: ReadonlyMap<string, ConsoleFile>;
}

/** Where the console's sources live (console/ at the repository root). */
export const consoleSourceDirectory = fileURLToPath(new URL("../../console/", import.meta.url));

/** The URL path the assets are served under; the page names them by absolute path. */
export const consoleAssetPath = "/console/assets/";

const contentTypes: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
};

function consoleFile(name: string, body: Buffer): ConsoleFile {
  const contentType = contentTypes[path.extname(name)];
  if (contentType === undefined) throw new Error(`the console build produced ${name}, of a type it does not serve`);
  const compressed = gzipSync(body, { level: 9 });
  return {
    contentType,
    body,
    gzipped: compressed.length < body.length ? compressed : undefined,
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  };
}

/** Builds the console from `sourceDirectory` (default: console/). */
export async function buildConsole(sourceDirectory = consoleSourceDirectory): Promise<ConsoleBundle> {
  const result = await esbuild.build({
    entryPoints: { app: path.join(sourceDirectory, "main.ts") },
    tsconfig: path.join(sourceDirectory, "tsconfig.json"),
    bundle: true,
    write: false,
    outdir: "/assets",
    entryNames: "[name]-[hash]",
    format: "esm",
    platform: "browser",
    // Every current browser reads ES2022 as is; anything newer is lowered to it.
    target: "es2022",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
  });
  const assets = new Map<string, ConsoleFile>();
  for (const output of result.outputFiles) {
    const name = path.basename(output.path);
    assets.set(name, consoleFile(name, Buffer.from(output.contents)));
  }
  const names = [...assets.keys()];
  const script = names.find((name) => name.endsWith(".js"));
  const style = names.find((name) => name.endsWith(".css"));
  if (script === undefined || style === undefined) throw new Error(`the console build produced ${names.join(", ")}: no script or style`);
  const template = await readFile(path.join(sourceDirectory, "index.html"), "utf8");
  if (!template.includes("%SCRIPT%") || !template.includes("%STYLE%")) throw new Error("console/index.html names no %SCRIPT% or %STYLE%");
  const page = template.replace("%SCRIPT%", `${consoleAssetPath}${script}`).replace("%STYLE%", `${consoleAssetPath}${style}`);
  return { page: consoleFile("index.html", Buffer.from(page)), assets };
}
