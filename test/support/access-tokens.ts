/**
 * Access tokens for tests: minted through AuthService by a tenant's key, as a browser's
 * back end would, and clients that present them.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { AuthService, type CreateAccessTokenRequestSchema } from "../../gen/runline/v1/auth_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { clientFor, type Protocol } from "./clients.js";

/** What CreateAccessToken takes. */
export type TokenRequest = MessageInitShape<typeof CreateAccessTokenRequestSchema>;

/** Mints a token with `key`; resolves to the token and when it expires. */
export async function mintToken(baseUrl: string, key: string, request: TokenRequest): Promise<{ token: string; expireTime: Date }> {
  const response = await clientFor(AuthService, "connect-json", baseUrl, key).createAccessToken(request);
  return { token: response.token, expireTime: new Date(Number(response.expireTime!.seconds) * 1000) };
}

/** A RunsService client that presents `token`. */
export function runsWithToken(baseUrl: string, token: string, protocol: Protocol = "connect-json"): Client<typeof RunsService> {
  return clientFor(RunsService, protocol, baseUrl, token);
}
