/**
 * Who the console acts as: an API key or an access token, kept in sessionStorage (so it
 * lives as long as the tab, is never in a URL, and other tabs and sites cannot read it),
 * and the gRPC-web clients that send it as `Authorization: Bearer …` to the origin that
 * served the page.
 */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import { WebhooksService } from "../gen/runline/v1/webhooks_service_pb.js";
import { WorkflowsService } from "../gen/runline/v1/workflows_service_pb.js";

const storageKey = "runline.console.credential";

/** The clients the console calls, all on one transport. */
export interface Clients {
  readonly runs: Client<typeof RunsService>;
  readonly workflows: Client<typeof WorkflowsService>;
  readonly webhooks: Client<typeof WebhooksService>;
}

/** The stored credential, or undefined when signed out. */
export function storedCredential(): string | undefined {
  return sessionStorage.getItem(storageKey) ?? undefined;
}

/** Keeps `credential` for this tab. */
export function keepCredential(credential: string): void {
  sessionStorage.setItem(storageKey, credential);
}

/** Forgets the credential. */
export function forgetCredential(): void {
  sessionStorage.removeItem(storageKey);
}

/** Clients that send `credential` as the bearer token, over gRPC-web to this page's origin. */
export function clientsFor(credential: string): Clients {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${credential}`);
    return next(request);
  };
  const transport = createGrpcWebTransport({ baseUrl: window.location.origin, interceptors: [bearer] });
  return {
    runs: createClient(RunsService, transport),
    workflows: createClient(WorkflowsService, transport),
    webhooks: createClient(WebhooksService, transport),
  };
}
