import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * With `OTEL_CONSOLE=1`, registers OpenTelemetry's tracing with a console exporter: every span
 * is printed as it ends. nestjs-iroh needs nothing more to trace its calls; it only has to
 * happen before the app listens. An application exporting to a collector would start
 * `@opentelemetry/sdk-node` here instead (docs/observability.md).
 */
export function startConsoleTelemetry(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_CONSOLE !== '1') return false;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] }));
  return true;
}
