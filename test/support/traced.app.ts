import { Metadata, ServerUnaryCall, status } from '@grpc/grpc-js';
import { CanActivate, Controller, Injectable, Module, UseGuards } from '@nestjs/common';
import { Ctx, EventPattern, GrpcMethod, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { SpanContext, trace } from '@opentelemetry/api';
import { Observable, interval, map, of, take, timer } from 'rxjs';
import { IrohContext } from '../../src';

/** What the traced handlers saw: the span active in them, the metadata their context showed. */
export const seen = {
  guard: [] as (SpanContext | undefined)[],
  handler: [] as (SpanContext | undefined)[],
  afterAwait: [] as (SpanContext | undefined)[],
  event: [] as (SpanContext | undefined)[],
  grpc: [] as (SpanContext | undefined)[],
  metadata: [] as unknown[],
  reset() {
    this.grpc = [];
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

  /** An Observable, so that a cancelled call leaves no timer behind. */
  @MessagePattern('traced.slow')
  slow(@Payload() ms: number): Observable<string> {
    return timer(ms).pipe(map(() => 'late'));
  }

  @MessagePattern('traced.reply-metadata')
  withReplyMetadata(
    @Payload() data: { fail?: boolean; stream?: boolean; size?: number },
    @Ctx() ctx: IrohContext,
  ): Observable<number> | string {
    ctx.setReplyMetadata({ etag: 'v7', served: ['a', 'b'] });
    if (data.fail) throw new RpcException({ code: 'E_WITH_METADATA', message: 'failed, with metadata' });
    if (data.size) return 'y'.repeat(data.size);
    return data.stream ? of(1, 2) : 'done';
  }

  @MessagePattern('traced.reply-metadata.bad')
  badReplyMetadata(@Ctx() ctx: IrohContext): string {
    ctx.setReplyMetadata(['not', 'an', 'object'] as unknown as Record<string, unknown>);
    return 'unreachable';
  }

  @EventPattern('traced.event')
  event(@Payload() _data: unknown, @Ctx() ctx: unknown): void {
    seen.event.push(activeSpan());
    seen.metadata.push((ctx as IrohContext).getMetadata());
  }
}

/** The HeroesService of test/fixtures/grpc/hero.proto, as far as the telemetry tests call it. */
@Controller()
export class TracedHeroesController {
  @GrpcMethod('HeroesService', 'FindOne')
  findOne(data: { id: number }, _metadata: Metadata, call: ServerUnaryCall<unknown, unknown>): { id: number; name: string } {
    seen.grpc.push(activeSpan());
    const headers = new Metadata();
    headers.add('x-served-by', 'traced');
    call.sendMetadata(headers);
    if (data.id === 404) throw new RpcException({ code: status.NOT_FOUND, message: 'no such hero' });
    if (data.id === 500) throw new Error('the database is on fire');
    return { id: data.id, name: 'Ada' };
  }

  @GrpcMethod('HeroesService', 'FindMany')
  findMany(query: { ids: number[] }): Observable<{ id: number; name: string }> {
    seen.grpc.push(activeSpan());
    return of(...query.ids.map(id => ({ id, name: `hero ${id}` })));
  }
}

@Module({ controllers: [TracedController] })
export class TracedModule {}

@Module({ controllers: [TracedHeroesController] })
export class TracedHeroesModule {}
