import type { Server } from '@nestjs/microservices';

/**
 * Runs `fn` between Nest's processing start and end hooks (used for tracing), the way each
 * Nest version's own transports do: Nest 12 through `runWithProcessingHooks`, Nest 11 through
 * the hooks themselves. `fn` gets the function that runs the end hook (once).
 */
export function runWithProcessingHooks(
  server: Server,
  context: unknown,
  endContext: unknown,
  fn: (runEndHook: () => void) => Promise<void>,
): Promise<void> {
  const nest = server as unknown as {
    transportId: unknown;
    runWithProcessingHooks?: (context: unknown, fn: (end: () => void) => Promise<void>, endContext: unknown) => Promise<void>;
    onProcessingStartHook: (transportId: unknown, context: unknown, done: () => Promise<void>) => Promise<void>;
    onProcessingEndHook?: (transportId: unknown, context: unknown) => void;
  };
  if (typeof nest.runWithProcessingHooks === 'function') {
    return Promise.resolve(nest.runWithProcessingHooks(context, fn, endContext));
  }
  return Promise.resolve(
    nest.onProcessingStartHook(nest.transportId, context, async () => {
      let ended = false;
      const runEndHook = () => {
        if (ended) return;
        ended = true;
        nest.onProcessingEndHook?.(nest.transportId, endContext);
      };
      try {
        await fn(runEndHook);
      } catch (err) {
        runEndHook();
        throw err;
      }
    }),
  );
}
