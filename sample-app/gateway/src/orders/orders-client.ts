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
    peer: ordersTicket(config),
    relayMode: config.iroh.relayMode,
    secretKeyFile: config.iroh.keyFile,
    bindAddr: config.iroh.bindAddr,
  };
  return { customClass: ClientIroh, options };
}

/** The service's ticket: from the configuration, or from the file the service wrote. */
export function ordersTicket(config: GatewayConfig): string {
  if (config.iroh.ticket) return config.iroh.ticket;
  try {
    return readFileSync(config.iroh.ticketFile, 'utf8').trim();
  } catch (err) {
    throw new Error(
      `cannot read the orders service's ticket from ${config.iroh.ticketFile} (${(err as NodeJS.ErrnoException).code}): ` +
        'start the service first, or set ORDERS_TICKET',
      { cause: err },
    );
  }
}
