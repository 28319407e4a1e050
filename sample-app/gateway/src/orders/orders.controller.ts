import { Body, Controller, Get, HttpCode, Inject, Param, ParseIntPipe, Post } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { Observable, lastValueFrom, toArray } from 'rxjs';
import { GATEWAY_CONFIG, GatewayConfig } from '../config/gateway.config';
import { Order } from './order';
import { ORDERS_SERVICE } from './orders-client';
import { rpcToHttp } from './rpc-to-http';

/** HTTP routes backed by the orders service. The service validates the payloads. */
@Controller('orders')
export class OrdersController {
  private readonly timeoutMs: number;

  constructor(
    @Inject(ORDERS_SERVICE) private readonly orders: ClientProxy,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.timeoutMs = config.requestTimeout;
  }

  @Post()
  create(@Body() body: unknown): Observable<Order> {
    return this.orders.send<Order>('orders.create', body).pipe(rpcToHttp(this.timeoutMs));
  }

  /** The service streams the orders one by one; the route answers them as one array. */
  @Get()
  list(): Observable<Order[]> {
    return this.orders.send<Order>('orders.list', {}).pipe(toArray(), rpcToHttp(this.timeoutMs));
  }

  @Get(':id')
  get(@Param('id', ParseIntPipe) id: number): Observable<Order> {
    return this.orders.send<Order>('orders.get', { id }).pipe(rpcToHttp(this.timeoutMs));
  }

  /** Sends an event: the service cancels the order on its own time. */
  @Post(':id/cancel')
  @HttpCode(202)
  async cancel(@Param('id', ParseIntPipe) id: number): Promise<{ id: number; cancellation: 'requested' }> {
    await lastValueFrom(this.orders.emit('orders.cancel', { id }).pipe(rpcToHttp(this.timeoutMs)), {
      defaultValue: undefined,
    });
    return { id, cancellation: 'requested' };
  }
}
