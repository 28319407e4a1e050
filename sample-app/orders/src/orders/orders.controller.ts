import { Controller, Logger, UsePipes } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Observable, from } from 'rxjs';
import { rpcValidationPipe } from '../common/rpc-validation.pipe';
import { CreateOrderDto } from './dto/create-order.dto';
import { OrderIdDto } from './dto/order-id.dto';
import { Order } from './order';
import { OrdersService } from './orders.service';

@Controller()
@UsePipes(rpcValidationPipe)
export class OrdersController {
  private readonly logger = new Logger(OrdersController.name);

  constructor(private readonly orders: OrdersService) {}

  @MessagePattern('orders.create')
  create(@Payload() dto: CreateOrderDto): Order {
    const order = this.orders.create(dto);
    this.logger.log(`Order ${order.id} placed: ${order.quantity} x ${order.item}`);
    return order;
  }

  @MessagePattern('orders.get')
  get(@Payload() { id }: OrderIdDto): Order {
    return this.orders.get(id);
  }

  /** Streams the orders one by one: the client receives one value per order. */
  @MessagePattern('orders.list')
  list(): Observable<Order> {
    return from(this.orders.all());
  }

  @EventPattern('orders.cancel')
  cancel(@Payload() { id }: OrderIdDto): void {
    if (this.orders.cancel(id)) this.logger.log(`Order ${id} cancelled`);
    else this.logger.warn(`Cancellation of unknown order ${id} ignored`);
  }
}
