/**
 * Who a request is for the budget's fair shares: the tenant, then the client's own name when it
 * sends one (`apollographql-client-name`, the header Apollo clients and routers send, or
 * `graphql-client-name`), else its remote address. The name is self-declared: it separates
 * cooperating apps behind one address; it is no defence against a client that lies about it.
 */
export const CLIENT_NAME_HEADERS = ['apollographql-client-name', 'graphql-client-name'] as const;

/** A name worth keeping: short printable ASCII (anything else falls back to the address). */
const NAME = /^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?$/;

export function clientNameOf(headers: Headers): string | null {
  for (const header of CLIENT_NAME_HEADERS) {
    const value = headers.get(header)?.trim();
    if (value && NAME.test(value)) return value;
  }
  return null;
}

/** The fair-share key of a request: tenant label, then `name:` or `address:`. */
export function clientKeyOf(tenantLabel: string, headers: Headers, address: string | undefined): string {
  const name = clientNameOf(headers);
  return `${tenantLabel}|${name !== null ? `name:${name}` : `address:${address ?? 'unknown'}`}`;
}
