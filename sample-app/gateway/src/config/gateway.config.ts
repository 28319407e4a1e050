import { RelayModeOption } from 'nestjs-iroh';

/** How the gateway reaches the orders service. A service running both accepts either. */
export type ClientTransport = 'iroh' | 'tcp';

export interface GatewayConfig {
  http: { host: string; port: number };
  transport: ClientTransport;
  iroh: {
    /** The service's tickets (one per instance), given directly… */
    tickets: string[];
    /** …or read from the files the instances write at start. */
    ticketFiles: string[];
    relayMode: RelayModeOption;
    /** The gateway's own identity; unset: a new one each start. */
    keyFile?: string;
    bindAddr?: string;
  };
  tcp: { host: string; port: number };
  /** Milliseconds a call to the service may take before the route answers 504. */
  requestTimeout: number;
  /** Milliseconds a health probe of the service may take. */
  healthTimeout: number;
}

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');

/** Reads the gateway's configuration from the environment; throws on invalid values. */
export function gatewayConfigFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const transport = env.TRANSPORT ?? 'iroh';
  if (transport !== 'iroh' && transport !== 'tcp') {
    throw new Error(
      `TRANSPORT must be iroh or tcp for the gateway, which calls the service over one of them (got ${JSON.stringify(transport)})`,
    );
  }
  return {
    http: { host: env.HOST ?? '127.0.0.1', port: portOf(env.PORT ?? '3000', 'PORT') },
    transport,
    iroh: {
      tickets: listOf(env.ORDERS_TICKET),
      ticketFiles: listOf(env.ORDERS_TICKET_FILE ?? '.iroh/orders.ticket'),
      relayMode: relayModeOf(env.IROH_RELAY),
      keyFile: env.IROH_KEY_FILE || undefined,
      bindAddr: env.IROH_BIND || undefined,
    },
    tcp: { host: env.ORDERS_TCP_HOST ?? '127.0.0.1', port: portOf(env.ORDERS_TCP_PORT ?? '4000', 'ORDERS_TCP_PORT') },
    requestTimeout: positive(env.REQUEST_TIMEOUT_MS ?? '5000', 'REQUEST_TIMEOUT_MS'),
    healthTimeout: positive(env.HEALTH_TIMEOUT_MS ?? '2000', 'HEALTH_TIMEOUT_MS'),
  };
}

/** `IROH_RELAY`: `default` (n0's relays), `disabled` (offline), `staging`, or relay URLs separated by commas. */
function relayModeOf(value: string | undefined): RelayModeOption {
  if (value === undefined || value === '' || value === 'default') return 'default';
  if (value === 'disabled' || value === 'staging') return value;
  return value.split(',').map(url => url.trim());
}

/** A list separated by commas (a service of several instances: one entry each). */
function listOf(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map(item => item.trim())
    .filter(item => item.length > 0);
}

function portOf(value: string, name: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be a port number, 0 for any free port (got ${JSON.stringify(value)})`);
  }
  return port;
}

function positive(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number (got ${JSON.stringify(value)})`);
  return n;
}
