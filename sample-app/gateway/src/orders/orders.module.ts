import { Module } from '@nestjs/common';
import { OrdersClientModule } from './orders-client.module';
import { OrdersController } from './orders.controller';

@Module({
  imports: [OrdersClientModule],
  controllers: [OrdersController],
})
export class OrdersModule {}
