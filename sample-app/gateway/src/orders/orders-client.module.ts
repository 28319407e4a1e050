import { Module } from '@nestjs/common';
import { ClientsModule } from '@nestjs/microservices';
import { GATEWAY_CONFIG, GatewayConfig } from '../config/gateway.config';
import { ORDERS_SERVICE, ordersClientOptions } from './orders-client';

/** Provides the orders service's ClientProxy (token ORDERS_SERVICE) over the configured transport. */
@Module({
  imports: [
    ClientsModule.registerAsync([
      {
        name: ORDERS_SERVICE,
        inject: [GATEWAY_CONFIG],
        useFactory: (config: GatewayConfig) => ordersClientOptions(config),
      },
    ]),
  ],
  exports: [ClientsModule],
})
export class OrdersClientModule {}
