/**
 * What the gateway has seen of each tenant's tables (their sizes, never their rows), for the call
 * plan: recorded whenever a request reads them, kept per tenant (credential and workspace).
 */
import { LRUCache } from 'lru-cache';
import type { TableSizes } from './plan.js';

export type MutableTableSizes = { -readonly [K in keyof TableSizes]: TableSizes[K] };

export interface TenantFacts {
  /** The sizes record of a tenant: the same object for every request of it while it is remembered. */
  of(tenantKey: string): MutableTableSizes;
}

export function createTenantFacts(options: { readonly maxTenants: number; readonly ttlMs: number }): TenantFacts {
  // Sizes drift slowly; forgetting them after a while only costs a request a read it makes anyway.
  const byTenant = new LRUCache<string, MutableTableSizes>({ max: options.maxTenants, ttl: options.ttlMs });
  return {
    of(tenantKey) {
      let sizes = byTenant.get(tenantKey);
      if (!sizes) {
        sizes = {};
        byTenant.set(tenantKey, sizes);
      }
      return sizes;
    },
  };
}
