import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OrdersClientModule } from '../orders/orders-client.module';
import { HealthController } from './health.controller';
import { IrohHealthIndicator } from './iroh.health';
import { OrdersHealthIndicator } from './orders.health';
import { StatusController } from './status.controller';

@Module({
  imports: [TerminusModule, OrdersClientModule],
  controllers: [HealthController, StatusController],
  providers: [IrohHealthIndicator, OrdersHealthIndicator],
})
export class HealthModule {}
