import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { gatewayConfigFromEnv } from './config/gateway.config';

const logger = new Logger('Gateway');

async function bootstrap(): Promise<void> {
  const config = gatewayConfigFromEnv();
  const app = await NestFactory.create(AppModule.forRoot(config));
  app.enableShutdownHooks();
  await app.listen(config.http.port, config.http.host);
  logger.log(`Gateway listening on ${await app.getUrl()}, calling the orders service over ${config.transport}`);
}

bootstrap().catch(err => {
  logger.error(`Gateway failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
