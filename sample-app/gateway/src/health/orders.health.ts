import { Inject, Injectable } from '@nestjs/common';
import { ClientProxy, Transport } from '@nestjs/microservices';
import { HealthCheckAttempt, MicroserviceHealthIndicator } from '@nestjs/terminus';
import { ClientIroh } from 'nestjs-iroh';
import { GATEWAY_CONFIG, GatewayConfig } from '../config/gateway.config';
import { ORDERS_SERVICE } from '../orders/orders-client';
import { IrohHealthIndicator } from './iroh.health';

/** Checks that the orders service is reachable, with the indicator of the configured transport. */
@Injectable()
export class OrdersHealthIndicator {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(ORDERS_SERVICE) private readonly client: ClientProxy,
    private readonly iroh: IrohHealthIndicator,
    private readonly microservice: MicroserviceHealthIndicator,
  ) {}

  check<Key extends string>(key: Key): HealthCheckAttempt<Key> {
    const timeout = this.config.healthTimeout;
    if (this.config.transport === 'iroh') {
      return this.iroh.pingCheck(key, this.client as ClientIroh, { timeout });
    }
    return this.microservice.pingCheck(key, { transport: Transport.TCP, options: this.config.tcp }).withTimeout(timeout);
  }
}
