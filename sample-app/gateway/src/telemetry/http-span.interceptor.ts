import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { Observable, tap } from 'rxjs';

/** What the interceptor reads of Express's request. */
interface HttpRequest {
  method: string;
  path: string;
  route?: { path?: string };
}

/**
 * A SERVER span around each HTTP route, named after it, so that the calls the route makes
 * to the orders service are its children: what HTTP instrumentation
 * (`@opentelemetry/instrumentation-http`) gives an application that installs it.
 */
@Injectable()
export class HttpSpanInterceptor implements NestInterceptor {
  private readonly tracer = trace.getTracer('orders-gateway');

  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = execution.switchToHttp().getRequest<HttpRequest>();
    const route = `${request.method} ${request.route?.path ?? request.path}`;
    const span = this.tracer.startSpan(route, { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method } });
    const active = trace.setSpan(context.active(), span);
    // Subscribed inside the span's context: the route runs, and calls the service, with it active.
    return new Observable(subscriber =>
      context.with(active, () =>
        next
          .handle()
          .pipe(
            tap({
              error: (err: Error) => span.setStatus({ code: SpanStatusCode.ERROR, message: err.message }),
              finalize: () => span.end(),
            }),
          )
          .subscribe(subscriber),
      ),
    );
  }
}
