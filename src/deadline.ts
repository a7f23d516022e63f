/**
 * The abort signal of one request: the client going away, or its deadline. Node 20 holds the
 * sources of `AbortSignal.any` weakly: a timeout signal nothing else references is collected with its
 * timer and never fires, so only short deadlines held. The context keeps `deadline` for as long as
 * the request runs.
 */
export interface RequestSignal {
  readonly signal: AbortSignal;
  /** The deadline itself, to be held strongly by whoever holds `signal`. */
  readonly deadline: AbortSignal;
}

export function requestSignal(client: AbortSignal, timeoutMs: number): RequestSignal {
  const deadline = AbortSignal.timeout(timeoutMs);
  return { signal: AbortSignal.any([client, deadline]), deadline };
}
