/**
 * A second origin for browser tests: a plain HTTP server on another loopback port serving
 * fixed pages, so that a page in Chromium calls Runline across origins, as a web app on
 * its own domain would (CORS, EventSource). Another port is another origin to a browser.
 * Closed after the file.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll } from "vitest";

/** The origin and the address of each of its pages. */
export interface PageOrigin {
  /** As browsers send it in `Origin`, e.g. `http://127.0.0.1:41234`. */
  readonly origin: string;
  /** The absolute URL of `path` on this origin. */
  url(path: string): string;
}

/** Serves `pages` (path → HTML) on 127.0.0.1, port 0; any other path is a 404. */
export async function startPageOrigin(pages: Readonly<Record<string, string>>): Promise<PageOrigin> {
  const server = createServer((request, response) => {
    const page = pages[new URL(request.url ?? "/", "http://page").pathname];
    if (page === undefined) {
      response.writeHead(404, { "content-type": "text/plain" }).end("no such page");
      return;
    }
    response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  afterAll(async () => {
    // Chromium keeps connections alive; close() alone would wait for them.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, url: (path) => `${origin}${path}` };
}
