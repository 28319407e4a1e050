import { Logger, LoggerService } from '@nestjs/common';
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { IROH_TRANSPORT } from '../constants';
import type iroh = require('../iroh/binding');
import { IrohConnectionInfo, IrohEvents, IrohStatus } from '../interfaces/iroh-events.interface';
import { IrohServerOptions } from '../interfaces/iroh-options.interface';
import { NestDispatcher } from './nest-dispatcher';
import { ServerCore } from './server-core';
import { resolveServerLimits } from './server-limits';

/**
 * A Nest microservice transport over iroh. Use it as the `strategy` of
 * `NestFactory.createMicroservice` or `app.connectMicroservice`; after `listen()`,
 * `endpointId` and `ticket` tell clients how to reach it.
 */
export class IrohServer extends Server<IrohEvents, IrohStatus> implements CustomTransportStrategy {
  override readonly transportId = IROH_TRANSPORT;
  override readonly logger: LoggerService = new Logger(IrohServer.name);
  private readonly core: ServerCore;

  constructor(options: IrohServerOptions = {}) {
    super();
    this.initializeSerializer(options);
    this.initializeDeserializer(options);
    const dispatcher = new NestDispatcher(this, {
      logger: this.logger,
      maxPatternLength: resolveServerLimits(options).maxPatternLength,
      customDeserializer: options.deserializer !== undefined,
    });
    this.core = new ServerCore(options, {
      logger: this.logger,
      dispatcher,
      serializer: options.serializer !== undefined ? this.serializer : null,
      setStatus: status => this._status$.next(status),
    });
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
   * Bytes of `maxReceiveMemory` held now: partly received frames (at their announced length),
   * inflated payloads, and frames waiting their turn.
   */
  get receiveMemoryUsed(): number {
    return this.core.receiveMemoryUsed;
  }

  listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): Promise<void> {
    return this.core.listen().then(
      () => callback(),
      err => callback(err),
    );
  }

  /**
   * Graceful shutdown: GOAWAY to clients, requests in flight may finish for up to
   * `drainTimeout` (late requests get a GOING_AWAY error), then every connection is closed
   * with a reason and the UDP port is released.
   */
  close(): Promise<void> {
    return this.core.close();
  }

  /** The iroh `Endpoint` this server listens on. */
  unwrap<T = iroh.Endpoint>(): T {
    return this.core.unwrap<T>();
  }

  on<EventKey extends keyof IrohEvents = keyof IrohEvents, EventCallback extends IrohEvents[EventKey] = IrohEvents[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.core.on(event, callback as (...args: any[]) => void);
  }
}
