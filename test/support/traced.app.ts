import { CanActivate, Controller, Injectable, Module, UseGuards } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { SpanContext, trace } from '@opentelemetry/api';
import { Observable, interval, map, take } from 'rxjs';
import { IrohContext } from '../../src';

/** What the traced handlers saw: the span active in them, the metadata their context showed. */
export const seen = {
  guard: [] as (SpanContext | undefined)[],
  handler: [] as (SpanContext | undefined)[],
  afterAwait: [] as (SpanContext | undefined)[],
  event: [] as (SpanContext | undefined)[],
  metadata: [] as unknown[],
  reset() {
    this.guard = [];
    this.handler = [];
    this.afterAwait = [];
    this.event = [];
    this.metadata = [];
  },
};

const activeSpan = () => trace.getActiveSpan()?.spanContext();

@Injectable()
class RecordingGuard implements CanActivate {
  canActivate(): boolean {
    seen.guard.push(activeSpan());
    return true;
  }
}

@Controller()
export class TracedController {
  @MessagePattern('traced.sum')
  @UseGuards(RecordingGuard)
  async sum(@Payload() numbers: number[], @Ctx() ctx: IrohContext): Promise<number> {
    seen.handler.push(activeSpan());
    seen.metadata.push(ctx.getMetadata());
    await new Promise(resolve => setTimeout(resolve, 2));
    seen.afterAwait.push(activeSpan());
    // A span the handler starts is a child of the SERVER span.
    trace.getTracer('handler').startActiveSpan('handler.work', span => span.end());
    return numbers.reduce((a, b) => a + b, 0);
  }

  @MessagePattern('traced.stream')
  stream(@Payload() n: number): Observable<number> {
    return interval(1).pipe(
      take(n),
      map(i => i * 10),
    );
  }

  @MessagePattern('traced.fail')
  fail(): never {
    throw new RpcException({ code: 'E_TRACED', message: 'traced failure' });
  }

  @MessagePattern('traced.slow')
  async slow(@Payload() ms: number): Promise<string> {
    await new Promise(resolve => setTimeout(resolve, ms));
    return 'late';
  }

  @EventPattern('traced.event')
  event(@Payload() _data: unknown, @Ctx() ctx: unknown): void {
    seen.event.push(activeSpan());
    seen.metadata.push((ctx as IrohContext).getMetadata());
  }
}

@Module({ controllers: [TracedController] })
export class TracedModule {}
