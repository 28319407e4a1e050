import { INestMicroservice, Inject, Injectable } from '@nestjs/common';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { Server as NetServer } from 'net';
import { IrohServer } from 'nestjs-iroh';
import { ORDERS_CONFIG, OrdersConfig } from '../config/orders.config';

/**
 * The transports the service serves, chosen by configuration alone: controllers and
 * services are the same whichever is on. `main.ts` connects each as a microservice.
 */
@Injectable()
export class ServiceTransports {
  /** The iroh server, when iroh is served. */
  readonly iroh: IrohServer | null;
  private tcp: INestMicroservice | null = null;

  constructor(@Inject(ORDERS_CONFIG) private readonly config: OrdersConfig) {
    const { transport, iroh } = config;
    this.iroh =
      transport === 'tcp' ? null : new IrohServer({ secretKeyFile: iroh.keyFile, relayMode: iroh.relayMode, bindAddr: iroh.bindAddr });
  }

  /** One entry per served transport, for `app.connectMicroservice`. */
  microserviceOptions(): MicroserviceOptions[] {
    const options: MicroserviceOptions[] = [];
    if (this.iroh) options.push({ strategy: this.iroh });
    if (this.config.transport !== 'iroh') {
      options.push({ transport: Transport.TCP, options: { host: this.config.tcp.host, port: this.config.tcp.port } });
    }
    return options;
  }

  /** Called by `main.ts` for each connected microservice: keeps the TCP one to report on it. */
  attach(microservice: INestMicroservice, options: MicroserviceOptions): void {
    if ('transport' in options && options.transport === Transport.TCP) this.tcp = microservice;
  }

  /** `host:port` the TCP server listens on (the real port when 0 was configured). */
  tcpAddress(): string | null {
    const address = this.tcp?.unwrap<NetServer>().address();
    if (!address || typeof address === 'string') return null;
    return `${address.address}:${address.port}`;
  }

  /** Clients connected now: iroh peers plus TCP sockets. */
  async connectionCount(): Promise<number> {
    const irohPeers = this.iroh?.connectedPeers.length ?? 0;
    const server = this.tcp?.unwrap<NetServer>();
    const tcpSockets = server ? await new Promise<number>(resolve => server.getConnections((err, count) => resolve(err ? 0 : count))) : 0;
    return irohPeers + tcpSockets;
  }
}
