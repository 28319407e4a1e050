import { RelayModeOption } from 'nestjs-iroh';

/** Which transports the service serves: one of them, or both at once (a hybrid app). */
export type ServiceTransport = 'iroh' | 'tcp' | 'both';

export interface OrdersConfig {
  transport: ServiceTransport;
  iroh: {
    /** The service's identity: created on first start, kept across restarts. */
    keyFile: string;
    /** Where the service writes its ticket for clients to read. */
    ticketFile: string;
    relayMode: RelayModeOption;
    /** `host:port` for the UDP socket; unset: all interfaces, any free port. */
    bindAddr?: string;
  };
  tcp: { host: string; port: number };
}

export const ORDERS_CONFIG = Symbol('ORDERS_CONFIG');

/** Reads the service's configuration from the environment; throws on invalid values. */
export function ordersConfigFromEnv(env: NodeJS.ProcessEnv = process.env): OrdersConfig {
  return {
    transport: oneOf(env.TRANSPORT ?? 'iroh', ['iroh', 'tcp', 'both'], 'TRANSPORT'),
    iroh: {
      keyFile: env.IROH_KEY_FILE ?? '.iroh/orders.key',
      ticketFile: env.IROH_TICKET_FILE ?? '.iroh/orders.ticket',
      relayMode: relayModeOf(env.IROH_RELAY),
      bindAddr: env.IROH_BIND || undefined,
    },
    tcp: {
      host: env.TCP_HOST ?? '127.0.0.1',
      port: portOf(env.TCP_PORT ?? '4000', 'TCP_PORT'),
    },
  };
}

/** `IROH_RELAY`: `default` (n0's relays), `disabled` (offline), `staging`, or relay URLs separated by commas. */
function relayModeOf(value: string | undefined): RelayModeOption {
  if (value === undefined || value === '' || value === 'default') return 'default';
  if (value === 'disabled' || value === 'staging') return value;
  return value.split(',').map(url => url.trim());
}

function oneOf<T extends string>(value: string, allowed: readonly T[], name: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Error(`${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

function portOf(value: string, name: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be a port number, 0 for any free port (got ${JSON.stringify(value)})`);
  }
  return port;
}
