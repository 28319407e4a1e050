import { readFileSync } from 'fs';
import { ClientProvider, Transport } from '@nestjs/microservices';
import { ClientIroh, ClientIrohOptions } from 'nestjs-iroh';
import { GatewayConfig } from '../config/gateway.config';

/** Injection token of the orders service's client proxy. */
export const ORDERS_SERVICE = Symbol('ORDERS_SERVICE');

/** Client options for the configured transport: the only place that knows which it is. */
export function ordersClientOptions(config: GatewayConfig): ClientProvider {
  if (config.transport === 'tcp') {
    return { transport: Transport.TCP, options: { host: config.tcp.host, port: config.tcp.port } };
  }
  const options: ClientIrohOptions = {
    // Several instances: each request goes to the least busy one that is up.
    peers: ordersTickets(config),
    relayMode: config.iroh.relayMode,
    secretKeyFile: config.iroh.keyFile,
    bindAddr: config.iroh.bindAddr,
  };
  return { customClass: ClientIroh, options };
}

/** The service's tickets, one per instance: from the configuration, or from the files the instances wrote. */
export function ordersTickets(config: GatewayConfig): string[] {
  if (config.iroh.tickets.length > 0) return config.iroh.tickets;
  if (config.iroh.ticketFiles.length === 0) throw new Error('set ORDERS_TICKET or ORDERS_TICKET_FILE');
  return config.iroh.ticketFiles.map(file => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new Error(
        `cannot read the orders service's ticket from ${file} (${(err as NodeJS.ErrnoException).code}): ` +
          'start the service first, or set ORDERS_TICKET',
        { cause: err },
      );
    }
  });
}
