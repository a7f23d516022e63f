/** Polls `check` until it holds, failing with `what` past `timeoutMs`: every wait in a test is bounded. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const limit = Date.now() + timeoutMs;
  while (Date.now() < limit) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}
