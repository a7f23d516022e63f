/**
 * The one signature of the transport: every layer takes the next call and returns a call of the same
 * shape (as undici's interceptors take a dispatch), so each concern is a small function, testable
 * alone, and upstream.ts lists their order in one place.
 */
import type { Logger } from 'pino';
import type { UpstreamError } from '../errors.js';
import type { UpstreamQuery, UpstreamRequest } from './http.js';
import type { Tenant } from './tenant.js';

export interface CallRequest {
  readonly tenant: Tenant;
  /** Path under the base URL; also the `endpoint` in logs, metrics and errors. */
  readonly path: string;
  readonly query: UpstreamQuery;
  readonly cacheClass: UpstreamRequest['cacheClass'];
  /** What the memory cache turns the JSON body into (see UpstreamRequest.decode). */
  readonly decode: (body: unknown) => unknown;
  /** Aborts the call: the caller's signal above the memory cache, the shared load's below it. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Where layers say what happened on the way (set by the observe layer; absent in tests that do not look). */
  readonly report?: CallReport | undefined;
  /** Who the call is made for: fair shares of the budget, the request's call allowance. */
  readonly scope: CallScope;
}

/**
 * The request (or background job) behind a call. One scope per GraphQL request: every call the
 * request causes carries it, including a load other requests then share (the memory cache).
 */
export interface CallScope {
  /**
   * The client for fair shares of the budget: the tenant and the client's name
   * (`apollographql-client-name`, `graphql-client-name`) or else its remote address.
   */
  readonly client: string;
  /** Requests from clients go before background work (the lead index's sync). */
  readonly priority: 'client' | 'background';
  /** The remote address of the request, for the failed-authentication budget; absent for background work. */
  readonly address?: string | undefined;
  /** The upstream calls this request may still cause (LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST); absent: unbounded. */
  readonly allowance?: CallAllowance | undefined;
}

/** Upstream calls one request may cause: taken below the caches, so answers from them are free. */
export interface CallAllowance {
  readonly limit: number;
  /** The call plan's estimate for the request, reported with a refusal. */
  estimate?: number | undefined;
  /** Calls taken so far. */
  spent: number;
}

export interface CallResult {
  /** The JSON body as received (null when empty); above the memory cache, what `decode` made of it. */
  readonly value: unknown;
  readonly status: number;
  /** The body as received ('' when empty) and its size in bytes; absent when the memory cache answered. */
  readonly received?: { readonly text: string; readonly bytes: number } | undefined;
  /** Which cache answered; absent when the upstream did. */
  readonly cache?: 'hit' | 'coalesced' | 'shared' | undefined;
}

export type UpstreamCall = (request: CallRequest) => Promise<CallResult>;
export type Layer = (next: UpstreamCall) => UpstreamCall;

/** What the layers below the top report as it happens; observe.ts turns it into logs and metrics. */
export interface CallReport {
  /** The budget let an attempt go after a wait of `ms` (> 0). */
  budgetWaited(ms: number): void;
  /** The budget refused an attempt: no slot within the maximum wait. */
  budgetRefused(): void;
  /** An attempt failed (`attempt` counts from 1); `retry` says whether another follows. */
  attemptFailed(error: UpstreamError, attempt: number, retry: boolean): void;
}

/** The first layer is the outermost: it sees the call first and its result last. */
export function compose(layers: readonly Layer[], call: UpstreamCall): UpstreamCall {
  return layers.reduceRight<UpstreamCall>((next, layer) => layer(next), call);
}

/** The cache key of a call: the tenant (credential and workspace), the path and the sorted query. */
export function cacheKey(request: CallRequest): string {
  const query = Object.keys(request.query)
    .sort()
    .flatMap((key) => [request.query[key] ?? []].flat().map((value) => `${key}=${encodeURIComponent(value)}`))
    .join('&');
  return `${request.tenant.cacheKey}|${request.path}?${query}`;
}

const refusals = new WeakSet<Error>();

/**
 * Marks an error as a layer's refusal to send the call (no budget slot, the caller gone), as
 * opposed to a failed attempt: the retry layer neither retries nor reports it.
 */
export function refused<E extends Error>(error: E): E {
  refusals.add(error);
  return error;
}

export const isRefused = (error: unknown): boolean => error instanceof Error && refusals.has(error);
