import { Injectable } from '@nestjs/common';
import { ServiceTransports } from '../transport/service-transports';
import { ORDERS_SERVICE_VERSION } from '../version';

export interface HealthReport {
  status: 'ok';
  /** The service's iroh endpoint id; null when it does not serve iroh. */
  endpointId: string | null;
  /** Seconds since the process started. */
  uptime: number;
  version: string;
  /** Clients connected now, over any transport. */
  connections: number;
}

@Injectable()
export class HealthService {
  constructor(private readonly transports: ServiceTransports) {}

  async report(): Promise<HealthReport> {
    return {
      status: 'ok',
      endpointId: this.transports.iroh?.endpointId ?? null,
      uptime: Math.round(process.uptime()),
      version: ORDERS_SERVICE_VERSION,
      connections: await this.transports.connectionCount(),
    };
  }
}
