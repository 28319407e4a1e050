import { DynamicModule, Module } from '@nestjs/common';
import { ORDERS_CONFIG, OrdersConfig } from './config/orders.config';
import { HealthController } from './health/health.controller';
import { HealthService } from './health/health.service';
import { OrdersController } from './orders/orders.controller';
import { OrdersService } from './orders/orders.service';
import { ServiceTransports } from './transport/service-transports';

@Module({})
export class AppModule {
  /** The configuration decides the transports (see ServiceTransports); nothing else depends on it. */
  static forRoot(config: OrdersConfig): DynamicModule {
    return {
      module: AppModule,
      controllers: [OrdersController, HealthController],
      providers: [{ provide: ORDERS_CONFIG, useValue: config }, ServiceTransports, OrdersService, HealthService],
    };
  }
}
