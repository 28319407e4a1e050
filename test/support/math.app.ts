import {
  CallHandler,
  CanActivate,
  Controller,
  ExecutionContext,
  Injectable,
  Module,
  NestInterceptor,
  UseGuards,
  UseInterceptors,
  UsePipes,
  ValidationPipe,
} from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { randomBytes } from 'crypto';
import { IsInt, IsString, Min } from 'class-validator';
import { Observable, from, interval, map, finalize, take } from 'rxjs';
import { IrohContext } from '../../src';

/** What the test controllers observed, for assertions. */
export const observed = {
  events: [] as unknown[],
  finalized: [] as string[],
  reset() {
    this.events = [];
    this.finalized = [];
  },
};

export class CreateItemDto {
  @IsString()
  name!: string;

  @IsInt()
  @Min(1)
  quantity!: number;
}

@Injectable()
class DenyOddGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const data = context.switchToRpc().getData();
    return typeof data === 'number' && data % 2 === 0;
  }
}

@Injectable()
class WrapInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map(value => ({ wrapped: value })));
  }
}

@Controller()
export class MathController {
  @MessagePattern('sum')
  sum(@Payload() numbers: number[]): number {
    return numbers.reduce((a, b) => a + b, 0);
  }

  @MessagePattern({ cmd: 'sum', version: 2 })
  sumObject(@Payload() numbers: number[]): { total: number } {
    return { total: numbers.reduce((a, b) => a + b, 0) };
  }

  @MessagePattern('sum.async')
  async sumAsync(@Payload() numbers: number[]): Promise<number> {
    await new Promise(r => setTimeout(r, 5));
    return numbers.reduce((a, b) => a + b, 0);
  }

  @MessagePattern('echo')
  echo(@Payload() data: unknown): unknown {
    return data;
  }

  @MessagePattern('delay')
  async delay(@Payload() { ms, value }: { ms: number; value: unknown }): Promise<unknown> {
    await new Promise(r => setTimeout(r, ms));
    return value;
  }

  @MessagePattern('blob')
  blob(@Payload() size: number): Buffer {
    return randomBytes(size);
  }

  @MessagePattern('range')
  range(@Payload() n: number): Observable<number> {
    return from(Array.from({ length: n }, (_, i) => i));
  }

  @MessagePattern('ticks')
  ticks(@Payload() { tag, every }: { tag: string; every: number }): Observable<number> {
    return interval(every).pipe(finalize(() => observed.finalized.push(tag)));
  }

  @MessagePattern('ticks.limited')
  ticksLimited(@Payload() n: number): Observable<number> {
    return interval(1).pipe(take(n));
  }

  @MessagePattern('whoami')
  whoami(@Payload() _data: unknown, @Ctx() ctx: IrohContext): { id: string; pattern: string } {
    return { id: ctx.getRemoteEndpointId(), pattern: ctx.getPattern() };
  }

  @MessagePattern('metadata')
  metadata(@Payload() _data: unknown, @Ctx() ctx: IrohContext): unknown {
    return ctx.getMetadata() ?? null;
  }

  @MessagePattern('fail.rpc')
  failRpc(): never {
    throw new RpcException({ code: 'E_NOPE', message: 'not allowed', details: [1, 2] });
  }

  @MessagePattern('fail.rpc.string')
  failRpcString(): never {
    throw new RpcException('plain message');
  }

  @MessagePattern('fail.plain')
  failPlain(): never {
    throw new Error('boom');
  }

  @MessagePattern('fail.stream')
  failStream(): Observable<number> {
    return new Observable(subscriber => {
      subscriber.next(1);
      subscriber.next(2);
      subscriber.error(new RpcException({ code: 'E_MID', message: 'stream broke' }));
    });
  }

  @MessagePattern('items.create')
  @UsePipes(
    new ValidationPipe({
      transform: true,
      exceptionFactory: errors => new RpcException({ code: 'E_VALIDATION', fields: errors.map(e => e.property) }),
    }),
  )
  create(@Payload() dto: CreateItemDto): { created: string; isDto: boolean } {
    return { created: `${dto.quantity}x${dto.name}`, isDto: dto instanceof CreateItemDto };
  }

  @MessagePattern('guarded.even')
  @UseGuards(DenyOddGuard)
  guarded(@Payload() n: number): string {
    return `ok ${n}`;
  }

  @MessagePattern('intercepted')
  @UseInterceptors(WrapInterceptor)
  intercepted(@Payload() value: unknown): unknown {
    return value;
  }

  @EventPattern('item.created')
  onItemCreated(@Payload() data: unknown): void {
    observed.events.push(data);
  }

  @EventPattern('event.fails')
  onEventFails(@Payload() _data: unknown): void {
    throw new Error('event handler failed');
  }
}

@Module({ controllers: [MathController] })
export class MathModule {}
