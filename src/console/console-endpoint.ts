/**
 * `GET /console`: the web console (console/), served from the API's own port so that it
 * talks gRPC-web to the same origin and needs no CORS. The page itself is answered with
 * `no-cache` (revalidated by ETag, so a new deploy shows at once); its assets have
 * content-hashed names and are cached for a year. Every answer carries a strict
 * Content-Security-Policy: scripts, styles and connections from this origin only,
 * nothing inline, no frames, no plugins, no form posts.
 */
import { failureMessage } from "../logger.js";
import { sendResponse, type Endpoint, type HttpRequest, type HttpResponse } from "../http/handler-chain.js";
import { consoleAssetPath, type ConsoleBundle, type ConsoleFile } from "./console-bundle.js";

/** The console's pages; both spellings answer the page (its links are absolute). */
const pagePaths = new Set(["/console", "/console/"]);

const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const securityHeaders = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Options of `consoleEndpoint`. */
export interface ConsoleEndpointOptions {
  /** Builds the console; called once, on the first request (again after a failure). */
  build: () => Promise<ConsoleBundle>;
  /** Told when a build fails (the caller answered 500). */
  onBuildError: (error: unknown) => void;
}

/** An endpoint answering `/console`, `/console/` and `/console/assets/<name>`; 404 for other `/console/…` paths. */
export function consoleEndpoint(options: ConsoleEndpointOptions): Endpoint {
  let building: Promise<ConsoleBundle> | undefined;
  const bundle = (): Promise<ConsoleBundle> =>
    (building ??= options.build().catch((error: unknown) => {
      building = undefined;
      throw error;
    }));
  return async (request, response) => {
    const urlPath = (request.url ?? "").split("?")[0]!;
    if (!pagePaths.has(urlPath) && !urlPath.startsWith("/console/")) return false;
    if (request.method !== "GET" && request.method !== "HEAD") {
      sendResponse(
        response,
        405,
        { ...securityHeaders, allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
        "use GET or HEAD",
      );
      return true;
    }
    let built: ConsoleBundle;
    try {
      built = await bundle();
    } catch (error) {
      options.onBuildError(error);
      const text = `the console failed to build: ${failureMessage(error)}`;
      sendResponse(response, 500, { ...securityHeaders, "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }, text);
      return true;
    }
    const found = fileAt(urlPath, built);
    if (found === undefined) {
      const text = `no console file at ${urlPath}`;
      sendResponse(response, 404, { ...securityHeaders, "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }, text);
      return true;
    }
    sendFile(request, response, found.file, found.cacheControl);
    return true;
  };
}

/** The file at `urlPath` and how long it may be cached, or undefined when there is none. */
function fileAt(urlPath: string, built: ConsoleBundle): { file: ConsoleFile; cacheControl: string } | undefined {
  if (pagePaths.has(urlPath)) return { file: built.page, cacheControl: "no-cache" };
  const asset = urlPath.startsWith(consoleAssetPath) ? built.assets.get(urlPath.slice(consoleAssetPath.length)) : undefined;
  return asset === undefined ? undefined : { file: asset, cacheControl: "public, max-age=31536000, immutable" };
}

function acceptsGzip(request: HttpRequest): boolean {
  const accepted = request.headers["accept-encoding"];
  return typeof accepted === "string" && /\bgzip\b/.test(accepted);
}

function sendFile(request: HttpRequest, response: HttpResponse, file: ConsoleFile, cacheControl: string): void {
  const gzip = file.gzipped !== undefined && acceptsGzip(request);
  const body = gzip ? file.gzipped! : file.body;
  // Each encoding is its own representation, so each has its own ETag.
  const etag = gzip ? file.etag.replace(/"$/, '-gzip"') : file.etag;
  const headers: Record<string, string> = { ...securityHeaders, "content-type": file.contentType, "cache-control": cacheControl, etag };
  headers.vary = "accept-encoding";
  if (request.headers["if-none-match"] === etag) {
    sendResponse(response, 304, headers);
    return;
  }
  if (gzip) headers["content-encoding"] = "gzip";
  headers["content-length"] = String(body.length);
  sendResponse(response, 200, headers, request.method === "HEAD" ? undefined : body);
}
