import type { ConsumerDeserializer, ReadPacket, Server, WritePacket } from '@nestjs/microservices';
import { Observable, Subject, connectable, finalize, isObservable } from 'rxjs';

/**
 * The members of Nest's `Server` a transport needs that are protected, or that only some Nest
 * versions have. Every difference between Nest 11 and 12 the server depends on is here.
 */
interface ServerInternals {
  transportId: unknown;
  deserializer: ConsumerDeserializer;
  /** Nest 12: runs the processing hooks around a request's handler. */
  handleRequest?(context: unknown, produce: () => Promise<Observable<unknown>>, respond: (packet: WritePacket) => void): unknown;
  /** Nest 12. */
  runWithProcessingHooks?(context: unknown, fn: (runEndHook: () => void) => Promise<void>, endContext: unknown): Promise<void>;
  /** Nest 11.2 and later (tracing hooks); absent before. */
  onProcessingStartHook?: (transportId: unknown, context: unknown, done: () => Promise<void>) => unknown;
  onProcessingEndHook?: (transportId: unknown, context: unknown) => void;
  /** Nest 11.2.4 and later. */
  getPatternAsString?(pattern: unknown): string;
}

/** The public part of a Nest server the transport uses (any server class, whatever its events and status). */
export type NestServer = Pick<Server, 'getHandlers' | 'getHandlerByPattern' | 'transformToObservable' | 'send' | 'handleEvent'>;

function internals(server: NestServer): ServerInternals {
  return server as unknown as ServerInternals;
}

/** The pattern as Nest routes it: `Server#getPatternAsString`, or the same result where Nest lacks it. */
export function patternAsString(server: NestServer, pattern: unknown): string {
  const nest = internals(server);
  if (nest.getPatternAsString) return nest.getPatternAsString(pattern);
  if (typeof pattern === 'string') return pattern;
  try {
    return JSON.stringify(pattern);
  } catch {
    return 'Unserializable pattern';
  }
}

/** Runs a custom deserializer on what a client's custom serializer sent. */
export function deserializePacket(server: NestServer, value: unknown): Promise<ReadPacket> | ReadPacket {
  return internals(server).deserializer.deserialize(value) as Promise<ReadPacket> | ReadPacket;
}

/**
 * Runs a request's handler the way each Nest version's own transports do: Nest 12 through
 * `handleRequest` (processing hooks included), Nest 11 through its hooks around `send`.
 */
export async function runRequestHandler(
  server: NestServer,
  context: unknown,
  produce: () => Promise<Observable<unknown>>,
  respond: (packet: WritePacket) => void,
): Promise<void> {
  const nest = internals(server);
  if (nest.handleRequest) {
    await nest.handleRequest(context, produce, respond);
    return;
  }
  await runWithProcessingHooks(server, context, context, async runEndHook => {
    const response$ = await produce();
    server.send(response$.pipe(finalize(runEndHook)), respond);
  });
}

/**
 * Runs `fn` between Nest's processing start and end hooks (used for tracing), as each Nest
 * version's transports do. `fn` gets the function that runs the end hook (once). Nest 11
 * before 11.2 has no hooks: `fn` just runs.
 */
export function runWithProcessingHooks(
  server: NestServer,
  context: unknown,
  endContext: unknown,
  fn: (runEndHook: () => void) => Promise<void>,
): Promise<void> {
  const nest = internals(server);
  if (nest.runWithProcessingHooks) return Promise.resolve(nest.runWithProcessingHooks(context, fn, endContext));
  let ended = false;
  const runEndHook = () => {
    if (ended) return;
    ended = true;
    nest.onProcessingEndHook?.call(server, nest.transportId, endContext);
  };
  const run = async () => {
    try {
      await fn(runEndHook);
    } catch (err) {
      runEndHook();
      throw err;
    }
  };
  const start = nest.onProcessingStartHook;
  return Promise.resolve(start ? start.call(server, nest.transportId, context, run) : run()).then(() => undefined);
}

/**
 * Runs the event handlers Nest registered for `pattern`, as Nest's `Server#handleEvent` does
 * (processing hooks, an Observable result connected and left to run), and resolves once the
 * handler has settled: its Promise, and the Observable it returned, if any. Admission counts an
 * event until then. A pattern without a handler goes to Nest's own `handleEvent` (which logs it).
 * `handler` is the pattern's handler when the caller has already looked it up.
 */
export function runEventHandler(
  server: NestServer,
  pattern: string,
  packet: ReadPacket,
  context: unknown,
  handler = server.getHandlerByPattern(pattern),
): Promise<void> {
  if (!handler) return Promise.resolve(server.handleEvent(pattern, packet, context as never)).then(() => undefined);
  let streamSettled: Promise<void> | null = null;
  return runWithProcessingHooks(server, context, context, async runEndHook => {
    const result: unknown = await handler(packet.data, context);
    if (!isObservable(result)) {
      runEndHook();
      return;
    }
    streamSettled = new Promise<void>(resolve => {
      const source = connectable(
        result.pipe(
          finalize(() => {
            runEndHook();
            resolve();
          }),
        ),
        { connector: () => new Subject(), resetOnDisconnect: false },
      );
      source.connect();
    });
  }).then(() => streamSettled ?? undefined);
}
