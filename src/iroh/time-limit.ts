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

/**
 * `promise`'s outcome, or a rejection with `expired()` once `ms` have passed first. The timer
 * goes with the outcome and never keeps the process alive by itself.
 */
export async function withinTime<T>(promise: Promise<T>, ms: number, expired: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
