/**
 * The packet metadata key that carries the W3C trace context (`traceparent`, `tracestate`, and
 * whatever else the application's propagator writes, such as `baggage`) from client to
 * server. The server removes it before handlers see the metadata, so it is reserved: a
 * caller's own member of that name is replaced.
 */
export const TRACE_CONTEXT_KEY = 'iroh-trace-context';

/** What the propagator wrote: header name → value. */
export type TraceCarrier = Record<string, string>;

/**
 * Metadata can carry the trace context when it is absent or a plain object: anything else
 * (an array, a string, a class instance with its own `toJSON`) goes as it is, untraced.
 */
export function canCarryTraceContext(metadata: unknown): boolean {
  if (metadata === undefined) return true;
  if (typeof metadata !== 'object' || metadata === null) return false;
  const proto = Object.getPrototypeOf(metadata);
  return proto === Object.prototype || proto === null;
}

/**
 * `metadata` with the trace context added under {@link TRACE_CONTEXT_KEY}; the caller's object
 * is not changed. Metadata that cannot carry it ({@link canCarryTraceContext}) is returned
 * as it is.
 */
export function withTraceContext(metadata: unknown, carrier: TraceCarrier): unknown {
  if (metadata === undefined) return { [TRACE_CONTEXT_KEY]: carrier };
  if (!canCarryTraceContext(metadata)) return metadata;
  return { ...(metadata as Record<string, unknown>), [TRACE_CONTEXT_KEY]: carrier };
}

/** The trace context a client put in `metadata`, if any (its string members only). */
export function traceContextOf(metadata: unknown): TraceCarrier | undefined {
  if (!hasTraceContext(metadata)) return undefined;
  const value = (metadata as Record<string, unknown>)[TRACE_CONTEXT_KEY];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return value as TraceCarrier;
}

/**
 * The metadata a handler sees: the client's, without {@link TRACE_CONTEXT_KEY}; undefined when
 * that was its only member. Needs no OpenTelemetry: a server without it still hides the key
 * that traced clients send.
 */
export function withoutTraceContext(metadata: unknown): unknown {
  if (!hasTraceContext(metadata)) return metadata;
  const source = metadata as Record<string, unknown>;
  let rest: Record<string, unknown> | undefined;
  for (const key of Object.keys(source)) {
    if (key === TRACE_CONTEXT_KEY) continue;
    rest ??= {};
    // As an own data property, whatever the name (an assignment to `__proto__` would set the
    // prototype instead).
    if (key === '__proto__') Object.defineProperty(rest, key, { value: source[key], enumerable: true, writable: true, configurable: true });
    else rest[key] = source[key];
  }
  return rest;
}

function hasTraceContext(metadata: unknown): boolean {
  return (
    typeof metadata === 'object' &&
    metadata !== null &&
    !Array.isArray(metadata) &&
    Object.prototype.hasOwnProperty.call(metadata, TRACE_CONTEXT_KEY)
  );
}

/** Reads a carrier for `propagation.extract`: string values only, whatever the peer sent. */
export const carrierGetter = {
  get(carrier: TraceCarrier, key: string): string | undefined {
    if (!Object.prototype.hasOwnProperty.call(carrier, key)) return undefined;
    const value = carrier[key];
    return typeof value === 'string' ? value : undefined;
  },
  keys(carrier: TraceCarrier): string[] {
    return Object.keys(carrier);
  },
};

/** Writes a carrier for `propagation.inject`. */
export const carrierSetter = {
  set(carrier: TraceCarrier, key: string, value: string): void {
    carrier[key] = value;
  },
};
