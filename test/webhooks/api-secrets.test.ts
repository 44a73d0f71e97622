/**
 * Webhook secrets as the dispatcher signs with them (webhooks/secrets.ts): current first,
 * the previous one beside it while the rotation overlap lasts, and never stored in clear.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import type { Sql } from "../../src/db/database.js";
import { createWebhookSecrets, readSecretKey } from "../../src/webhooks/secrets.js";
import { clientFor, createTenant, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let sql: Sql;
let key: Buffer;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  sql = server.database.sql;
  key = await readSecretKey(sql);
});

const webhooks = (tenant: TenantFixture) => clientFor(WebhooksService, "connect-json", baseUrl, tenant.key);

describe("signingSecrets", () => {
  it("gives the run-webhook secret the API shows, then both after a rotation while the overlap lasts", async () => {
    const tenant = await createTenant(baseUrl);
    const secrets = createWebhookSecrets(sql, key, 60_000);
    const { secret: first } = await webhooks(tenant).getRunWebhookSecret({});
    expect(await secrets.signingSecrets(tenant.tenantId, null)).toEqual([first]);
    const { secret: second } = await webhooks(tenant).rotateRunWebhookSecret({});
    expect(await secrets.signingSecrets(tenant.tenantId, null)).toEqual([second, first]);
    // Each secret signs in a form standardwebhooks' own verify accepts.
    const signed = new Webhook(second).sign("msg_1", new Date(), "{}");
    expect(() =>
      new Webhook(second).verify("{}", {
        "webhook-id": "msg_1",
        "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
        "webhook-signature": signed,
      }),
    ).not.toThrow();
  });

  it("drops the previous secret once the overlap is over", async () => {
    const tenant = await createTenant(baseUrl);
    const created = await webhooks(tenant).createWebhook({ webhook: { url: "https://example.com/overlap" } });
    const endpointId = created.webhook!.id;
    const noOverlap = createWebhookSecrets(sql, key, 0);
    const rotated = await noOverlap.rotateEndpointSecret(tenant.tenantId, endpointId);
    expect(await noOverlap.signingSecrets(tenant.tenantId, endpointId)).toEqual([rotated]);
    const { secret: again } = await webhooks(tenant).rotateWebhookSecret({ id: endpointId });
    expect(await noOverlap.signingSecrets(tenant.tenantId, endpointId)).toEqual([again, rotated]);
  });

  it("makes the run-webhook secret on first use, once, even when asked for concurrently", async () => {
    const tenant = await createTenant(baseUrl);
    const secrets = createWebhookSecrets(sql, key, 60_000);
    const answers = await Promise.all(Array.from({ length: 5 }, () => secrets.signingSecrets(tenant.tenantId, null)));
    expect(new Set(answers.map((answer) => answer.join()))).toHaveProperty("size", 1);
  });
});

describe("at rest", () => {
  it("stores only AES-GCM ciphertext, bound to its row", async () => {
    const tenant = await createTenant(baseUrl);
    const created = await webhooks(tenant).createWebhook({ webhook: { url: "https://example.com/at-rest" } });
    const raw = created.secret.slice("whsec_".length);
    const [row] = await sql.query<{ secret: Buffer }>(`select secret from webhook_endpoints where id = $1`, [created.webhook!.id]);
    expect(row!.secret.length).toBe(12 + 16 + created.secret.length);
    expect(row!.secret.toString("latin1")).not.toContain(raw);
    expect(row!.secret.includes(Buffer.from(raw, "base64"))).toBe(false);
    // The same ciphertext copied under another endpoint does not open.
    const other = await webhooks(tenant).createWebhook({ webhook: { url: "https://example.com/other" } });
    await sql.query(`update webhook_endpoints set secret = $1 where id = $2`, [row!.secret, other.webhook!.id]);
    await expect(createWebhookSecrets(sql, key, 0).signingSecrets(tenant.tenantId, other.webhook!.id)).rejects.toThrow();
  });
});
