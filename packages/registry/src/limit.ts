// Bounded concurrency for layer transfers: enough parallel streams to fill
// the link, few enough not to open a socket per layer of a 100-layer image.

/**
 * Runs fn over items with at most `n` in flight, resolving with results in
 * item order. After the first failure no new item starts; the ones running
 * are awaited (so none is left writing) and the first error is thrown.
 */
export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        if (!failed) firstError = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failed) throw firstError;
  return results;
}
