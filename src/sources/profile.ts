/**
 * A source profile: everything that differs between the upstream APIs the gateway can read, as one
 * object per source. config.ts, server.ts, serve.ts and the transport read profiles; none of them
 * branches on which source is configured. Profiles are listed in profiles.ts.
 */
import type { DemoUpstream } from '../demo/server.js';
import type { Env } from '../env.js';
import type { BreakerRules } from '../transport/breaker.js';
import type { JsonGetter, ResponseRules } from '../transport/http.js';
import type { Tenant } from '../transport/tenant.js';
import type { LeadAdapter } from './adapter.js';

/** What every source's settings carry: `kind` names the profile (the `LEADGRAPH_SOURCE` value). */
export interface SourceSettings {
  readonly kind: string;
}

/** What a profile reads from the environment. */
export interface SourceReading<S extends SourceSettings> {
  readonly settings: S;
  /** Its credentials are set (choosing it by default, and conflicting with another source chosen). */
  readonly credentialsSet: boolean;
  /** It can serve a real account as configured; otherwise the gateway starts the embedded demo. */
  readonly configured: boolean;
}

export interface SourceProfile<S extends SourceSettings> {
  readonly kind: S['kind'];
  /** The upstream as errors and logs name it, e.g. "V4 API". */
  readonly upstreamName: string;
  /** The variables that hold its credentials, as messages list them. */
  readonly credentialVariables: readonly string[];
  /** `LEADGRAPH_UPSTREAM_PAGE_SIZE`: its default and the upstream's largest `limit`. */
  readonly pageSize: { readonly default: number; readonly max: number };
  /**
   * `LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST`'s default: what one request may spend of this upstream's
   * budget (V4: a fifth of its minute; Kommo: five seconds of its 7 a second).
   */
  readonly callLimit: number;
  /** The lead index's defaults for this upstream (LEADGRAPH_INDEX_*): how often it changes, how late changes show. */
  readonly index: IndexDefaults;
  /** A setting of this source's that turns something on (e.g. multi-tenant mode): named as a start-up error when another source is chosen. */
  enabledOnlyHere(env: Env): string | null;
  /** Reads and validates its settings (ConfigError naming the variable). */
  read(env: Env): SourceReading<S>;
  /** The same settings, pointed at the embedded demo upstream's account. */
  withDemo(settings: S, demo: DemoUpstream): S;
  /** The base URL of its upstream, for the start-up log. */
  baseUrl(settings: S): string;
  /** The runtime of these settings: budget, HTTP rules, and how a request finds its tenant and adapter. */
  connect(settings: S, options: ConnectOptions): SourceRuntime;
}

/** The lead index's timing defaults for one upstream (src/index/registry.ts). */
export interface IndexDefaults {
  /** `LEADGRAPH_INDEX_REFRESH_SECONDS`: seconds between incremental refreshes. */
  readonly refreshSeconds: number;
  /**
   * `LEADGRAPH_INDEX_OVERLAP_MINUTES`: how far back of a refresh's own start the next one reads again: it
   * covers clock skew and, for a warehouse, its load delay (a change appears hours after the time it carries).
   */
  readonly overlapMinutes: number;
  /** `LEADGRAPH_INDEX_FULL_SYNC_MINUTES`: minutes between full re-reads (rows that vanish without trace). */
  readonly fullSyncMinutes: number;
}

export interface ConnectOptions {
  /** Rows (V4) or leads (Kommo) per upstream block: `LEADGRAPH_UPSTREAM_PAGE_SIZE`. */
  readonly blockSize: number;
  /** Upstream calls in flight when records are looked up one id at a time. */
  readonly lookupConcurrency: number;
}

/** A client-side budget: at most `limit` calls in any rolling `windowMs`, per credential. */
export interface Budget {
  readonly limit: number;
  readonly windowMs: number;
  /** The setting that sizes it, named in the error when it is used up. */
  readonly variable: string;
}

export interface SourceRuntime {
  readonly upstreamName: string;
  readonly baseUrl: string;
  readonly budget: Budget;
  /** How this upstream's answers deviate from plain HTTP (Kommo: 204 as an empty list, `retry_after` in a 429 body). */
  readonly responseRules?: ResponseRules | undefined;
  /** Request headers that select the tenant (multi-tenant credentials): answers say `Vary` on them. None when the tenant is the server's. */
  readonly tenantHeaders?: readonly string[] | undefined;
  /** When the gateway stops calling for an account for a cool-down; none for an upstream that does not ban. */
  readonly breaker?: BreakerRules | undefined;
  /** Requests bring their own credentials (multi-tenant mode). */
  readonly multiTenant: boolean;
  /**
   * The tenant a request reads as, and how to build its adapter. Throws a DomainError
   * (UNAUTHENTICATED) when the request lacks what this mode needs.
   */
  tenantOf(request: Request): RequestTenant;
}

export interface RequestTenant {
  readonly tenant: Tenant;
  createAdapter(transport: JsonGetter): LeadAdapter;
}
