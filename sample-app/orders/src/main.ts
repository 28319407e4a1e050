import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { ordersConfigFromEnv } from './config/orders.config';
import { startConsoleTelemetry } from './telemetry/console-telemetry';
import { ServiceTransports } from './transport/service-transports';
import { writeTicketFile } from './transport/ticket-file';

const logger = new Logger('OrdersService');

async function bootstrap(): Promise<void> {
  // Before the service listens: spans printed to the console with OTEL_CONSOLE=1.
  startConsoleTelemetry();
  const config = ordersConfigFromEnv();
  // A hybrid app: every configured transport is connected to the same controllers.
  const app = await NestFactory.create(AppModule.forRoot(config));
  app.enableShutdownHooks();
  const transports = app.get(ServiceTransports);
  for (const options of transports.microserviceOptions()) {
    transports.attach(app.connectMicroservice(options, { inheritAppConfig: true }), options);
  }
  await app.startAllMicroservices();
  await app.init();

  if (transports.iroh) {
    const { iroh } = transports;
    writeTicketFile(config.iroh.ticketFile, iroh.ticket);
    logger.log(`iroh endpoint id: ${iroh.endpointId} (key file ${config.iroh.keyFile})`);
    logger.log(`iroh ticket (written to ${config.iroh.ticketFile}): ${iroh.ticket}`);
  }
  const tcp = transports.tcpAddress();
  if (tcp) logger.log(`TCP listening on ${tcp}`);
  logger.log(`Orders service ready (transport: ${config.transport})`);
}

bootstrap().catch(err => {
  logger.error(`Orders service failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
