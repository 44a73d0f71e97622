/**
 * A page on another origin follows a run with Chromium's native EventSource, which can
 * send no `Authorization` header: its back end (here, the test) mints an access token
 * with AuthService and hands it over, and the page puts it in the stream's URL as
 * `access_token` (API.md, "Browser access tokens"). The server allows the page's origin
 * by RUNLINE_CORS_ORIGINS. The page gets the run's events live and the stream's
 * `complete` end; an expired token and a token for another run are refused at once
 * (EventSource error, CLOSED: no reconnecting), and fetch from the page reads why.
 */
import type { Browser, Page, Response } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { mintToken } from "../support/access-tokens.js";
import { chromiumSkipReason, chromiumSuiteName, launchChromium } from "../support/browser.js";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { eventually, sleep, within } from "../support/expectations.js";
import { startPageOrigin, type PageOrigin } from "../support/page-origin.js";
import { startTestServer } from "../support/test-server.js";

/**
 * The partner's page: holds no key and mints nothing. `follow(url)` opens an EventSource
 * and settles at the `complete` event, or when the browser gives up on the stream;
 * `probe(url)` is a plain cross-origin fetch of the same URL, to read a refusal's status
 * (or, when the browser withholds the response, why). Neither ever rejects: an error
 * thrown in the page would reach the test only as a stack of page URLs.
 */
const partnerPage = `<!doctype html>
<title>Partner page</title>
<script>
  window.follow = (url) => new Promise((resolve) => {
    const seen = { messages: [], ids: [], complete: false, errors: 0, closed: false };
    window.seen = seen;
    const source = new EventSource(url);
    source.onmessage = (event) => {
      seen.messages.push(JSON.parse(event.data));
      seen.ids.push(event.lastEventId);
    };
    source.addEventListener("complete", () => {
      seen.complete = true;
      source.close();
      resolve(seen);
    });
    source.onerror = () => {
      seen.errors += 1;
      seen.closed = source.readyState === EventSource.CLOSED;
      if (seen.closed) resolve(seen);
    };
  });
  window.probe = async (url) => {
    try {
      const response = await fetch(url, { headers: { accept: "text/event-stream" } });
      return { status: response.status, body: await response.json() };
    } catch (error) {
      return { failed: String(error) };
    }
  };
</script>
<p>Follows a run with a token it was handed.</p>`;

/** What `follow` settles with. */
interface Followed {
  readonly messages: { run?: { id: string; status: string }; events?: { sequence: string; type: string; status?: string }[] }[];
  /** The `lastEventId` of each message. */
  readonly ids: string[];
  readonly complete: boolean;
  readonly errors: number;
  readonly closed: boolean;
}

/** The page's functions, as page.evaluate sees its global object. */
interface PartnerGlobals {
  follow(url: string): Promise<Followed>;
  probe(url: string): Promise<{ status: number; body: { code: number; message: string } } | { failed: string }>;
  seen?: Followed;
}

let origin: PageOrigin;
/** An origin RUNLINE_CORS_ORIGINS does not name. */
let strangerOrigin: PageOrigin;
let serverUrl: string;
let tenant: TenantFixture;
let browser: Browser;

beforeAll(async () => {
  [origin, strangerOrigin] = await Promise.all([startPageOrigin({ "/": partnerPage }), startPageOrigin({ "/": partnerPage })]);
  serverUrl = (await startTestServer(undefined, { RUNLINE_CORS_ORIGINS: origin.origin })).url;
  tenant = await createTenant(serverUrl);
  await createCounterWorkflow(tenant);
  if (chromiumSkipReason() === undefined) browser = await launchChromium();
});

/** The partner page, freshly opened in its own context, on `at` (the allowed origin by default). */
async function openPartnerPage(at = origin): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(at.url("/"));
  return page;
}

const follow = (page: Page, url: string) => page.evaluate((address) => (globalThis as unknown as PartnerGlobals).follow(address), url);
const probe = (page: Page, url: string) => page.evaluate((address) => (globalThis as unknown as PartnerGlobals).probe(address), url);
const received = (page: Page) => page.evaluate(() => (globalThis as unknown as PartnerGlobals).seen?.messages.length ?? 0);

async function newRun(): Promise<string> {
  return (await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;
}

/** A read token for `runIds`, minted by the tenant's key as the page's back end would. */
async function readToken(runIds: string[], ttlSeconds = 300n): Promise<{ token: string; expireTime: Date }> {
  return mintToken(serverUrl, tenant.key, { scopes: [Scope.READ], runIds, ttl: { seconds: ttlSeconds } });
}

const streamUrl = (runId: string, token: string) => `${serverUrl}/api/v1/runs/${runId}/events:stream?access_token=${token}`;

describe.skipIf(chromiumSkipReason() !== undefined)(chromiumSuiteName("native EventSource from another origin"), () => {
  it("follows a run live with a token in the URL, to its `complete` end", async () => {
    const runId = await newRun();
    const { token } = await readToken([runId]);
    const page = await openPartnerPage();
    const streamResponse = page.waitForResponse((response: Response) => response.url().includes("/events:stream"));
    const followed = follow(page, streamUrl(runId, token));
    // Should a step below fail, the page closes under this call: that is not the failure to report.
    followed.catch(() => {});
    // Live: the events below are stored only once the page has the stream's first message.
    await eventually(10_000, "the page's first message", async () => ((await received(page)) > 0 ? true : undefined));
    await tenant.runs().ingestRunEvents({ runId, events: [1, 2, 3].map((step) => ({ type: "progress", data: json({ step }) })) });
    await tenant.runs().cancelRun({ runId, reason: "the page saw enough" });
    const seen = await within(10_000, "the page to see `complete`", followed);

    expect([seen.complete, seen.errors]).toEqual([true, 0]);
    expect(seen.messages[0]!.run).toMatchObject({ id: runId, status: "RUN_STATUS_QUEUED" });
    const events = seen.messages.flatMap((message) => message.events ?? []);
    expect(events.map((event) => [event.sequence, event.type, event.status ?? ""])).toEqual([
      ["1", "status", "RUN_STATUS_QUEUED"],
      ["2", "progress", ""],
      ["3", "progress", ""],
      ["4", "progress", ""],
      ["5", "status", "RUN_STATUS_CANCELLED"],
    ]);
    // Each batch's `id:` is its last sequence (what a reconnect resumes from).
    expect(seen.ids.at(-1)).toBe("5");
    const response = await streamResponse;
    expect(response.status()).toBe(200);
    expect((await response.allHeaders())["access-control-allow-origin"]).toBe(origin.origin);
    expect(response.request().headers()["authorization"]).toBeUndefined();
  });

  it("refuses an expired token: the EventSource closes without a message, fetch reads 401", async () => {
    const runId = await newRun();
    const { token, expireTime } = await readToken([runId], 1n);
    const page = await openPartnerPage();
    await sleep(Math.max(0, expireTime.getTime() - Date.now()) + 250);
    const seen = await within(10_000, "the EventSource to give up", follow(page, streamUrl(runId, token)));
    expect([seen.closed, seen.complete, seen.messages.length]).toEqual([true, false, 0]);
    const refusal = await probe(page, streamUrl(runId, token));
    expect(refusal).toEqual({ status: 401, body: expect.objectContaining({ code: 16, message: "the access token has expired" }) });
  });

  it("refuses a token restricted to another run as NOT_FOUND: closed, 404", async () => {
    const [runId, otherRunId] = await Promise.all([newRun(), newRun()]);
    const { token } = await readToken([otherRunId]);
    const page = await openPartnerPage();
    const seen = await within(10_000, "the EventSource to give up", follow(page, streamUrl(runId, token)));
    expect([seen.closed, seen.complete, seen.messages.length]).toEqual([true, false, 0]);
    const refusal = await probe(page, streamUrl(runId, token));
    expect(refusal).toEqual({ status: 404, body: expect.objectContaining({ code: 5, message: `run "${runId}" not found` }) });
  });

  it("gives a page on an origin RUNLINE_CORS_ORIGINS does not name nothing, even with a good token", async () => {
    const runId = await newRun();
    const { token } = await readToken([runId]);
    const page = await openPartnerPage(strangerOrigin);
    const seen = await within(10_000, "the EventSource to give up", follow(page, streamUrl(runId, token)));
    expect([seen.closed, seen.complete, seen.messages.length]).toEqual([true, false, 0]);
    expect(await probe(page, streamUrl(runId, token))).toEqual({ failed: "TypeError: Failed to fetch" });
  });
});
