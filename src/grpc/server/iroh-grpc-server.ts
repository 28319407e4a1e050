import { Logger, LoggerService } from '@nestjs/common';
import { CustomTransportStrategy, MessageHandler, Server, ServerGrpc } from '@nestjs/microservices';
import { Observable, distinctUntilChanged } from 'rxjs';
import type iroh = require('../../iroh/binding');
import { IrohConnectionInfo, IrohEvents, IrohStatus } from '../../interfaces/iroh-events.interface';
import { IrohServerOptions } from '../../interfaces/iroh-options.interface';
import { resolveProtocolOptions } from '../../interfaces/protocol-options';
import { NestDispatcher } from '../../server/nest-dispatcher';
import { ServerCore } from '../../server/server-core';
import { resolveServerLimits } from '../../server/server-limits';
import { GrpcProtoOptions } from '../grpc-proto-options';
import { GrpcDispatcher } from './grpc-dispatcher';
import { GrpcServerCalls } from './grpc-server-calls';

/** Options of {@link IrohGrpcServer}: those of `IrohServer`, and the `.proto` options of Nest's gRPC server. */
export interface IrohGrpcServerOptions extends IrohServerOptions, GrpcProtoOptions {}

/**
 * An iroh server for Nest's gRPC controllers (`@GrpcMethod`, `@GrpcStreamMethod`,
 * `@GrpcStreamCall`), with or without a `.proto`: the same controllers a Nest gRPC service
 * has, served over iroh to `ClientGrpcIroh`. It serves message and event patterns bound to
 * no transport as well.
 *
 * It is a `ServerGrpc` because Nest registers gRPC handlers only on a server whose
 * `transportId` is `Transport.GRPC`, and gives handlers gRPC's arguments only on an
 * `instanceof ServerGrpc`. Nothing of `ServerGrpc`'s own transport runs: listening,
 * connections and dispatch are the iroh transport's core.
 */
export class IrohGrpcServer extends ServerGrpc implements CustomTransportStrategy {
  protected override readonly logger: LoggerService = new Logger(IrohGrpcServer.name);
  private readonly core: ServerCore;

  constructor(options: IrohGrpcServerOptions = {}) {
    // ServerGrpc's constructor reads only `url` and `protoLoader`, and loads the gRPC packages.
    super(options as ConstructorParameters<typeof ServerGrpc>[0]);
    this.initializeSerializer(options);
    this.initializeDeserializer(options);
    const messages = new NestDispatcher(this, {
      logger: this.logger,
      maxPatternLength: resolveServerLimits(options).maxPatternLength,
      customDeserializer: options.deserializer !== undefined,
    });
    const calls = new GrpcServerCalls(this, this.logger, resolveProtocolOptions(options).maxMessageSize, options);
    this.core = new ServerCore(options, {
      logger: this.logger,
      dispatcher: new GrpcDispatcher(this, calls, messages, this.logger),
      serializer: options.serializer !== undefined ? this.serializer : null,
      setStatus: status => this._status$.next(status as never),
    });
  }

  /**
   * The server's status, as `IrohServer#status` reports it. (`status` itself stays as Nest's
   * gRPC server declares it: unsupported.)
   */
  get irohStatus(): Observable<IrohStatus> {
    return (this._status$ as unknown as Observable<IrohStatus>).pipe(distinctUntilChanged());
  }

  /** This server's endpoint id (hex public key). Available once listening. */
  get endpointId(): string {
    return this.core.endpointId;
  }

  /** An endpoint ticket with this server's id, direct addresses and relay. Available once listening. */
  get ticket(): string {
    return this.core.ticket;
  }

  /** Endpoint ids of the peers connected now. */
  get connectedPeers(): string[] {
    return this.core.connectedPeers;
  }

  /** The connections served now: each client's endpoint id, streams and requests in flight. */
  get connections(): IrohConnectionInfo[] {
    return this.core.connections;
  }

  /** Requests in flight on all connections. */
  get inflightRequests(): number {
    return this.core.inflightRequests;
  }

  /**
   * Handlers are registered as on any Nest server (patterns normalized as Nest normalizes
   * them), not as `ServerGrpc` keeps them for its own gRPC transport.
   */
  override addHandler(pattern: unknown, callback: MessageHandler, isEventHandler = false, extras: Record<string, unknown> = {}): void {
    Server.prototype.addHandler.call(this, pattern, callback, isEventHandler, extras);
  }

  override listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): Promise<void> {
    return this.core.listen().then(
      () => callback(),
      err => callback(err),
    );
  }

  /** Graceful shutdown, as `IrohServer#close`. */
  override close(): Promise<void> {
    return this.core.close();
  }

  /** The iroh `Endpoint` this server listens on. */
  override unwrap<T = iroh.Endpoint>(): T {
    return this.core.unwrap<T>();
  }

  override on<
    EventKey extends string | number | symbol = keyof IrohEvents,
    EventCallback = EventKey extends keyof IrohEvents ? IrohEvents[EventKey] : never,
  >(event: EventKey, callback: EventCallback): void {
    this.core.on(event as keyof IrohEvents, callback as (...args: any[]) => void);
  }
}
