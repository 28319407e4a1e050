import { Controller, Get, Inject } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { Observable, map } from 'rxjs';
import { GATEWAY_CONFIG, GatewayConfig } from '../config/gateway.config';
import { ORDERS_SERVICE } from '../orders/orders-client';
import { rpcToHttp } from '../orders/rpc-to-http';

/** The orders service's own report (its `health.check` pattern), and how the gateway reaches it. */
@Controller('status')
export class StatusController {
  constructor(
    @Inject(ORDERS_SERVICE) private readonly orders: ClientProxy,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  @Get()
  status(): Observable<{ transport: string; orders: unknown }> {
    return this.orders.send('health.check', {}).pipe(
      rpcToHttp(this.config.requestTimeout),
      map(orders => ({ transport: this.config.transport, orders })),
    );
  }
}
