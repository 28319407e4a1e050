import type { Attributes, Span, SpanOptions } from '@opentelemetry/api';
import type { OpenTelemetryApi } from './opentelemetry-api';
import {
  ATTR_ERROR_TYPE,
  ATTR_IROH_CALL_TYPE,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  CallOutcome,
  GRPC_OK,
  SYSTEM_GRPC,
  SYSTEM_NESTJS_IROH,
  UNKNOWN_METHOD,
  grpcMethodOf,
} from './semantic-conventions';
import type { CallType } from './telemetry';

// The span names, span options and metric attributes of a method are built once and reused
// by every call: a call that succeeds allocates no attribute object.

/** Methods remembered per call type; patterns past it are described afresh on each call. */
const MAX_METHODS = 1024;
/** Peers remembered per method, likewise. */
const MAX_PEERS = 64;
/** Distinct failures remembered per method and peer, likewise. */
const MAX_OUTCOMES = 32;

/** A map that stops growing at `limit` entries; values past it are built on each lookup. */
export class BoundedCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(
    private readonly limit: number,
    private readonly build: (key: string) => V,
  ) {}

  get(key: string): V {
    let value = this.entries.get(key);
    if (value === undefined) {
      value = this.build(key);
      if (this.entries.size < this.limit) this.entries.set(key, value);
    }
    return value;
  }
}

/** A method's metric attributes for each way a call of it can end. */
export class OutcomeAttributes {
  /** For a call that succeeded. */
  readonly ok: Attributes;
  private readonly others: BoundedCache<Attributes>;

  constructor(base: Attributes, grpc: boolean) {
    this.ok = Object.freeze(grpc ? { ...base, [ATTR_RPC_STATUS_CODE]: GRPC_OK } : base);
    this.others = new BoundedCache(MAX_OUTCOMES, key => {
      const [statusCode, errorType] = key.split('\n');
      const attributes: Attributes = { ...base };
      if (statusCode) attributes[ATTR_RPC_STATUS_CODE] = statusCode;
      if (errorType) attributes[ATTR_ERROR_TYPE] = errorType;
      return Object.freeze(attributes);
    });
  }

  of(outcome: CallOutcome | undefined): Attributes {
    if (outcome === undefined) return this.ok;
    return this.others.get(`${outcome.statusCode ?? ''}\n${outcome.errorType ?? ''}`);
  }
}

/** What spans and metrics say of a call to one method (and, on a client, one peer). */
export interface CallTarget {
  readonly spanOptions: SpanOptions;
  readonly metrics: OutcomeAttributes;
}

/** One method, as calls of one type name it. */
export class MethodDescription {
  readonly grpc: boolean;
  /** The span name: `rpc.method`, or the system's name for an unknown method. */
  readonly spanName: string;
  /** Without a peer (a server's calls, a client's before it knows its peer). */
  readonly target: CallTarget;
  private readonly peers: BoundedCache<CallTarget>;

  constructor(
    api: OpenTelemetryApi,
    readonly type: CallType,
    method: string,
    client: boolean,
  ) {
    this.grpc = type === 'grpc';
    const system = this.grpc ? SYSTEM_GRPC : SYSTEM_NESTJS_IROH;
    this.spanName = method === UNKNOWN_METHOD ? system : method;
    const kind = client ? api.SpanKind.CLIENT : api.SpanKind.SERVER;
    const spanAttributes = { [ATTR_RPC_SYSTEM_NAME]: system, [ATTR_RPC_METHOD]: method, [ATTR_IROH_CALL_TYPE]: type };
    const metricAttributes = { [ATTR_RPC_SYSTEM_NAME]: system, [ATTR_RPC_METHOD]: method };
    this.target = describeTarget(kind, spanAttributes, metricAttributes, this.grpc);
    this.peers = new BoundedCache(MAX_PEERS, peer =>
      describeTarget(
        kind,
        { ...spanAttributes, [ATTR_SERVER_ADDRESS]: peer },
        { ...metricAttributes, [ATTR_SERVER_ADDRESS]: peer },
        this.grpc,
      ),
    );
  }

  /** The target of a call to `peer` (a client's server). */
  toPeer(peer: string | undefined): CallTarget {
    return peer === undefined ? this.target : this.peers.get(peer);
  }
}

function describeTarget(kind: number, spanAttributes: Attributes, metricAttributes: Attributes, grpc: boolean): CallTarget {
  return {
    spanOptions: Object.freeze({ kind, attributes: Object.freeze(spanAttributes) }),
    metrics: new OutcomeAttributes(Object.freeze(metricAttributes), grpc),
  };
}

/** The methods of each call type, described on first use. */
export class MethodTable {
  private readonly byType: Record<CallType, BoundedCache<MethodDescription>>;
  private readonly unknown: Record<CallType, MethodDescription>;

  constructor(api: OpenTelemetryApi, client: boolean) {
    const table = (type: CallType) =>
      new BoundedCache(MAX_METHODS, pattern => new MethodDescription(api, type, type === 'grpc' ? grpcMethodOf(pattern) : pattern, client));
    this.byType = { request: table('request'), event: table('event'), grpc: table('grpc') };
    this.unknown = {
      request: new MethodDescription(api, 'request', UNKNOWN_METHOD, client),
      event: new MethodDescription(api, 'event', UNKNOWN_METHOD, client),
      grpc: new MethodDescription(api, 'grpc', UNKNOWN_METHOD, client),
    };
  }

  get(type: CallType, pattern: string): MethodDescription {
    return (this.byType[type] ?? this.byType.request).get(pattern);
  }

  /** The method of a pattern no handler matches. */
  unknownMethod(type: CallType): MethodDescription {
    return this.unknown[type] ?? this.unknown.request;
  }
}

/** Sets a finished call's outcome on its span: status, `error.type`, the exception. */
export function recordOutcome(api: OpenTelemetryApi, span: Span, outcome: CallOutcome, error: unknown): void {
  if (outcome.statusCode !== undefined) span.setAttribute(ATTR_RPC_STATUS_CODE, outcome.statusCode);
  if (outcome.errorType !== undefined) span.setAttribute(ATTR_ERROR_TYPE, outcome.errorType);
  if (!outcome.failed) return;
  span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.message });
  span.recordException(error instanceof Error || typeof error === 'string' ? error : { name: outcome.errorType, message: outcome.message });
}
