import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { OrdersHealthIndicator } from './orders.health';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly orders: OrdersHealthIndicator,
  ) {}

  /** 200 when the orders service answers in time, 503 otherwise (terminus's format). */
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.orders.check('orders')]);
  }
}
