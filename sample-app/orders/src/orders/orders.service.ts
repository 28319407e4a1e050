import { Injectable } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { CreateOrderDto } from './dto/create-order.dto';
import { Order } from './order';

/** Orders, kept in memory: the sample is about the transport, not storage. */
@Injectable()
export class OrdersService {
  private readonly orders = new Map<number, Order>();
  private nextId = 1;

  create(dto: CreateOrderDto): Order {
    const order: Order = {
      id: this.nextId++,
      item: dto.item,
      quantity: dto.quantity,
      status: 'placed',
      createdAt: new Date().toISOString(),
    };
    this.orders.set(order.id, order);
    return order;
  }

  get(id: number): Order {
    const order = this.orders.get(id);
    if (!order) throw new RpcException({ status: 404, message: `order ${id} not found` });
    return order;
  }

  all(): Order[] {
    return [...this.orders.values()];
  }

  /** False for an unknown order. Cancelling twice is harmless: an event may be sent again. */
  cancel(id: number): boolean {
    const order = this.orders.get(id);
    if (!order) return false;
    order.status = 'cancelled';
    return true;
  }
}
