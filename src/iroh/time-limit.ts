/**
 * Waits for `promise`, but no longer than `ms`; resolves either way (a rejection counts as
 * settled). For shutdown steps that depend on the peer, which may never cooperate.
 */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>(resolve => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}
