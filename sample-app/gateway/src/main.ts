import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { gatewayConfigFromEnv } from './config/gateway.config';
import { startConsoleTelemetry } from './telemetry/console-telemetry';
import { HttpSpanInterceptor } from './telemetry/http-span.interceptor';

const logger = new Logger('Gateway');

async function bootstrap(): Promise<void> {
  // Before the app creates its iroh client: spans printed to the console with OTEL_CONSOLE=1.
  const tracing = startConsoleTelemetry();
  const config = gatewayConfigFromEnv();
  const app = await NestFactory.create(AppModule.forRoot(config));
  app.enableShutdownHooks();
  if (tracing) app.useGlobalInterceptors(new HttpSpanInterceptor());
  await app.listen(config.http.port, config.http.host);
  logger.log(`Gateway listening on ${await app.getUrl()}, calling the orders service over ${config.transport}`);
}

bootstrap().catch(err => {
  logger.error(`Gateway failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
