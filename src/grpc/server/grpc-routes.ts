import { GrpcMethodStreamingType } from '@nestjs/microservices';
import { GrpcStatus, GrpcStatusObject } from '../grpc-status';
import { ProtoMethod, ProtoServices } from '../proto-services';

/** A handler as Nest registers it on a server (the proxy around the controller method). */
export type GrpcHandler = (...args: unknown[]) => unknown;

/** Where a gRPC call goes: the handler, how it takes its messages, and the method's shape. */
export interface GrpcRoute {
  path: string;
  rpc: string;
  handler: GrpcHandler;
  /** How the handler takes the call: request message, Observable of requests, or the call itself. */
  kind: GrpcMethodStreamingType;
  /** The `.proto` method; null when the server has no `.proto`. */
  method: ProtoMethod | null;
  /** Whether the reply is a stream; null when unknown (no `.proto`): every value is sent. */
  responseStream: boolean | null;
}

export type RouteResolution = { route: GrpcRoute } | { status: GrpcStatusObject };

type HandlersByKind = Partial<Record<GrpcMethodStreamingType, GrpcHandler>>;

const GRPC_PATH = /^\/([^/]+)\/([^/]+)$/;

/**
 * The gRPC handlers of a server (those Nest registered for `@GrpcMethod`, `@GrpcStreamMethod`
 * and `@GrpcStreamCall`, under `{ service, rpc, streaming }` patterns) and the calls they
 * answer. Handlers are found as Nest's gRPC server finds them: by the service name relative
 * to its package, then by the fully qualified name; a request stream goes to an
 * `@GrpcStreamMethod` handler first, else to a `@GrpcStreamCall` one.
 */
export class GrpcRoutes {
  private readonly handlers = new Map<string, HandlersByKind>();
  private readonly routes = new Map<string, GrpcRoute>();
  /** Methods of the `.proto` that no handler serves, by path. */
  private readonly unserved = new Map<string, string>();

  constructor(
    registered: Map<string, GrpcHandler>,
    private readonly proto: ProtoServices | null,
    private readonly packages: string[],
  ) {
    for (const [key, handler] of registered) {
      const pattern = grpcPatternOf(key);
      if (!pattern) continue;
      const id = `${pattern.service}/${pattern.rpc}`;
      const byKind = this.handlers.get(id) ?? {};
      byKind[pattern.streaming] = handler;
      this.handlers.set(id, byKind);
    }
    if (proto) this.routeProtoMethods(proto);
  }

  /** Number of gRPC handlers found. */
  get handlerCount(): number {
    let count = 0;
    for (const byKind of this.handlers.values()) count += Object.keys(byKind).length;
    return count;
  }

  resolve(path: string, requestStream: boolean): RouteResolution {
    const route = this.proto ? this.routes.get(path) : this.routeByName(path, requestStream);
    // As @grpc/grpc-js: a method of a served service is named by itself, an unknown one by its path.
    if (!route) return { status: unimplemented(this.unserved.get(path) ?? path) };
    if (route.method && route.method.requestStream !== requestStream) {
      return {
        status: {
          code: GrpcStatus.INTERNAL,
          details: `${route.method.path} takes ${route.method.requestStream ? 'a request stream' : 'one request message'}; the call sent ${requestStream ? 'a stream' : 'one message'}`,
          metadata: null,
        },
      };
    }
    return { route };
  }

  private routeProtoMethods(proto: ProtoServices): void {
    for (const service of proto.services) {
      for (const method of service.methods.values()) {
        const found = this.findHandler([service.name, service.fullName], [method.name, method.originalName], method.requestStream);
        const relative = `/${service.name}/${method.name}`;
        if (!found) {
          this.unserved.set(method.path, method.name);
          this.unserved.set(relative, method.name);
          continue;
        }
        const route: GrpcRoute = {
          path: method.path,
          rpc: method.name,
          handler: found.handler,
          kind: found.kind,
          method,
          responseStream: method.responseStream,
        };
        this.routes.set(method.path, route);
        // Callers that name services without their package.
        if (!this.routes.has(relative)) this.routes.set(relative, route);
      }
    }
  }

  /** Without a `.proto`: the service by the name the caller used, with or without a package. */
  private routeByName(path: string, requestStream: boolean): GrpcRoute | undefined {
    const key = `${path}|${requestStream}`;
    const cached = this.routes.get(key);
    if (cached) return cached;
    const parts = GRPC_PATH.exec(path);
    if (!parts) return undefined;
    const [, service, rpc] = parts;
    const found = this.findHandler(this.serviceNameCandidates(service), [rpc], requestStream);
    if (!found) return undefined;
    const route: GrpcRoute = { path, rpc, handler: found.handler, kind: found.kind, method: null, responseStream: null };
    this.routes.set(key, route);
    return route;
  }

  private serviceNameCandidates(service: string): string[] {
    const names = [service];
    for (const pkg of this.packages) {
      if (service.startsWith(`${pkg}.`)) names.push(service.slice(pkg.length + 1));
      else names.push(`${pkg}.${service}`);
    }
    const lastDot = service.lastIndexOf('.');
    if (lastDot >= 0) names.push(service.slice(lastDot + 1));
    return names;
  }

  private findHandler(
    services: string[],
    rpcs: string[],
    requestStream: boolean,
  ): { handler: GrpcHandler; kind: GrpcMethodStreamingType } | undefined {
    const kinds = requestStream
      ? [GrpcMethodStreamingType.RX_STREAMING, GrpcMethodStreamingType.PT_STREAMING]
      : [GrpcMethodStreamingType.NO_STREAMING];
    for (const kind of kinds) {
      for (const service of services) {
        for (const rpc of rpcs) {
          const handler = this.handlers.get(`${service}/${rpc}`)?.[kind];
          if (handler) return { handler, kind };
        }
      }
    }
    return undefined;
  }
}

/** The status of a call to a method no handler serves, worded as `@grpc/grpc-js` words it. */
export function unimplemented(method: string): GrpcStatusObject {
  return { code: GrpcStatus.UNIMPLEMENTED, details: `The server does not implement the method ${method}`, metadata: null };
}

const STREAMING_KINDS = new Set<string>(Object.values(GrpcMethodStreamingType));

/** The `{ service, rpc, streaming }` pattern of a gRPC handler, from its normalized route; null for others. */
function grpcPatternOf(route: string): { service: string; rpc: string; streaming: GrpcMethodStreamingType } | null {
  if (route.charCodeAt(0) !== 0x7b) return null;
  let pattern: unknown;
  try {
    pattern = JSON.parse(route);
  } catch {
    return null;
  }
  const p = pattern as Record<string, unknown>;
  if (
    typeof p !== 'object' ||
    p === null ||
    Object.keys(p).length !== 3 ||
    typeof p.service !== 'string' ||
    typeof p.rpc !== 'string' ||
    typeof p.streaming !== 'string' ||
    !STREAMING_KINDS.has(p.streaming)
  ) {
    return null;
  }
  return p as { service: string; rpc: string; streaming: GrpcMethodStreamingType };
}
