import { Controller } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { HealthReport, HealthService } from './health.service';

@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @MessagePattern('health.check')
  check(): Promise<HealthReport> {
    return this.health.report();
  }
}
