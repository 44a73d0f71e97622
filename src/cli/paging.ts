/**
 * Follows AIP-158 page tokens until the list ends (an empty next_page_token) or a
 * limit is reached, asking each page for no more than is still wanted.
 */

/** One page as a List RPC returns it. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly nextPageToken: string;
}

/** Items gathered, and the token to continue from ("" when the list ended). */
export interface Collected<T> {
  readonly items: T[];
  readonly nextPageToken: string;
}

/** The largest page_size the server accepts; larger requests are coerced down anyway. */
const maxPageSize = 1000;

/** Calls `fetchPage` with successive tokens until `limit` items or the end of the list. */
export async function collectPages<T>(
  limit: number,
  fetchPage: (pageToken: string, pageSize: number) => Promise<Page<T>>,
): Promise<Collected<T>> {
  const items: T[] = [];
  let pageToken = "";
  do {
    const page = await fetchPage(pageToken, Math.min(maxPageSize, limit - items.length));
    items.push(...page.items.slice(0, limit - items.length));
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && items.length < limit);
  return { items, nextPageToken: pageToken };
}
