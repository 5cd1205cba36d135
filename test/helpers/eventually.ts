/** Poll `check` until it returns a truthy value (returned) or the timeout passes (throws). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition', stepMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
