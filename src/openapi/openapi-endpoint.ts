/**
 * `GET /openapi.json`: the generated OpenAPI document, for people and for client
 * generators (openapi-typescript, Swagger UI, Postman). Served without authentication:
 * it describes the API and holds no tenant's data, and tools fetch it before anyone has
 * a key. `Access-Control-Allow-Origin: *` for the same reason, so a docs viewer on
 * another origin can load it.
 */
import { sendResponse, type Endpoint } from "../http/handler-chain.js";

/** The path the document is served at. */
const openApiPath = "/openapi.json";

/** An endpoint answering GET and HEAD on `/openapi.json` with `document`, serialised once. */
export function openApiEndpoint(document: object): Endpoint {
  const body = JSON.stringify(document);
  const headers = { "content-type": "application/json", "access-control-allow-origin": "*" };
  return (request, response) => {
    const isRead = request.method === "GET" || request.method === "HEAD";
    if (!isRead || (request.url ?? "").split("?")[0] !== openApiPath) return false;
    sendResponse(response, 200, headers, request.method === "HEAD" ? undefined : body);
    return true;
  };
}
