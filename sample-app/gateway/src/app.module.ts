import { DynamicModule, Module } from '@nestjs/common';
import { GatewayConfig } from './config/gateway.config';
import { GatewayConfigModule } from './config/gateway-config.module';
import { HealthModule } from './health/health.module';
import { OrdersModule } from './orders/orders.module';

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [GatewayConfigModule.forRoot(config), OrdersModule, HealthModule],
    };
  }
}
