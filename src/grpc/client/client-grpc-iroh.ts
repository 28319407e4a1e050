import type { ClientGrpc } from '@nestjs/microservices';
import { ClientIroh } from '../../client/client-iroh';
import { ClientIrohOptions } from '../../interfaces/iroh-options.interface';
import { GrpcProtoOptions, hasProtoDefinition, packageNames } from '../grpc-proto-options';
import { GrpcServiceError } from '../grpc-status';
import { JSON_MESSAGES, protobufMessages } from '../message-codec';
import { ProtoService, ProtoServices } from '../proto-services';
import { GrpcCallListener, GrpcCallSpec, GrpcClientCall } from './grpc-client-call';
import { rawServiceClient } from './raw-service-client';
import { CallStarter, serviceMethod } from './service-methods';

/** Options of {@link ClientGrpcIroh}: those of `ClientIroh`, and the `.proto` options of Nest's gRPC client. */
export interface ClientGrpcIrohOptions extends ClientIrohOptions, GrpcProtoOptions {}

/** Property names that must not become methods of a service known only by name. */
const NOT_METHODS = new Set(['then', 'toJSON', 'constructor', 'inspect']);

/**
 * Nest's `ClientGrpc` over iroh: code written against `ClientGrpc` (`getService<T>(name)`,
 * `getClientByServiceName(name)`) calls an {@link IrohServer} that serves gRPC controllers.
 * Register it with `ClientsModule` as `{ customClass: ClientGrpcIroh, options }`.
 *
 * With `protoPath` (or `packageDefinition`) the services and their methods come from the
 * `.proto` and messages travel as protobuf; without, a service is any name, its methods any
 * property (named as the rpc, in either case of the first letter), and messages travel as JSON.
 * Calls connect on first use; one connection per server carries them all, and with several
 * servers (`peers`) each call goes to the ready one with the fewest calls in flight.
 */
export class ClientGrpcIroh extends ClientIroh implements ClientGrpc, CallStarter {
  private readonly proto: ProtoServices | null;
  private readonly packages: string[];
  private readonly peer: string;
  private readonly serviceObjects = new Map<string, object>();
  private readonly rawClients = new Map<string, object>();

  constructor(options: ClientGrpcIrohOptions) {
    super(options);
    this.peer = this.peerIds.length === 1 ? (options.peer ?? options.peers?.[0] ?? '') : this.peerIds.join(',');
    this.packages = packageNames(options);
    this.proto = hasProtoDefinition(options) ? ProtoServices.load(options) : null;
  }

  /** The service's methods, each returning an Observable of its response messages. */
  getService<T extends object>(name: string): T {
    let service = this.serviceObjects.get(name);
    if (!service) {
      service = this.proto ? this.protoServiceMethods(this.requireService(name)) : this.namedServiceMethods(name);
      this.serviceObjects.set(name, service);
    }
    return service as T;
  }

  /**
   * A client for the service with `@grpc/grpc-js`'s calling conventions (callbacks and Node
   * streams). It needs the `.proto`: those conventions depend on each method's kind.
   */
  getClientByServiceName<T = any>(name: string): T {
    if (!this.proto) {
      throw new Error(`getClientByServiceName("${name}") needs the service's .proto: give ClientGrpcIroh protoPath (or packageDefinition)`);
    }
    let client = this.rawClients.get(name);
    if (!client) {
      client = rawServiceClient(this, this.requireService(name), method => protobufMessages(method, true), `iroh:${this.peer}`);
      this.rawClients.set(name, client);
    }
    return client as T;
  }

  /** @internal Starts a call (and its CLIENT span): to a ready server, or queued while the servers connect. */
  startCall(spec: GrpcCallSpec, listener: GrpcCallListener): GrpcClientCall {
    const limits = { timeout: this.timeout, maxMessageSize: this.maxMessageSize };
    const telemetry = this.startTelemetry('grpc', spec.path);
    return new GrpcClientCall(options => this.startRequest(options), spec, limits, listener, telemetry);
  }

  /** @internal */
  shapeError(error: GrpcServiceError): unknown {
    return this.serializeError(error);
  }

  private requireService(name: string): ProtoService {
    const service = this.proto?.service(name);
    if (!service) throw new Error(`The invalid gRPC service (service "${name}" not found)`);
    return service;
  }

  /** Methods under both names generated clients offer (`FindOne` and `findOne`), as `ClientGrpcProxy` lists them. */
  private protoServiceMethods(service: ProtoService): object {
    const methods: Record<string, unknown> = {};
    for (const method of service.methods.values()) {
      const fn = serviceMethod(this, { path: method.path, codec: protobufMessages(method, true), requestStream: method.requestStream });
      methods[method.name] = fn;
      methods[method.originalName] = fn;
    }
    return methods;
  }

  /** Without a `.proto`: any property is a method, its rpc name with the first letter in capitals (as Nest's decorators name them). */
  private namedServiceMethods(name: string): object {
    const service = this.packages.length === 1 && !name.includes('.') ? `${this.packages[0]}.${name}` : name;
    const methods = new Map<string, unknown>();
    return new Proxy(
      {},
      {
        get: (_target, property) => {
          if (typeof property !== 'string' || NOT_METHODS.has(property)) return undefined;
          let method = methods.get(property);
          if (!method) {
            const rpc = property.charAt(0).toUpperCase() + property.slice(1);
            method = serviceMethod(this, { path: `/${service}/${rpc}`, codec: JSON_MESSAGES, requestStream: null });
            methods.set(property, method);
          }
          return method;
        },
      },
    );
  }
}
